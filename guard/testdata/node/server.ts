import http from "node:http";
import { handler } from "./app";

/** Keep-alive for the pooled connections of the ingress (60s). */
const KEEP_ALIVE_MS: number = 61 * 1000;

const server: http.Server = http.createServer(
  {
    keepAliveTimeout: KEEP_ALIVE_MS,
    headersTimeout: KEEP_ALIVE_MS + 1_000,
    requestTimeout: 300_000,
  },
  handler,
);

const re = /keepAliveTimeout = 1/g; // not an assignment
server.listen(Number(process.env.PORT ?? 8080));
