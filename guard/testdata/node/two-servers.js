const http = require("http");
const app = require("./app");
const admin = require("./admin");

// Public traffic comes through the load balancer.
const server = http.createServer(app);
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.listen(8080);

// The admin port is scraped directly, no proxy in front.
const adminServer = http.createServer({ keepAliveTimeout: 5_000 }, admin);
adminServer.listen(9090);
