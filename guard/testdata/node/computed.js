const http = require("http");
const server = http.createServer(require("./app"));
server.keepAliveTimeout = Number(process.env.KEEP_ALIVE_TIMEOUT_MS);
server.listen(3000);
