const http = require("http");

const server = http.createServer((req, res) => res.end("ok"));
// Above the ALB's 60s, as the AWS docs advise; headersTimeout left at
// its default (60s).
server.keepAliveTimeout = 65000;
server.listen(3000);
