'use strict';
// An Express API behind an AWS ALB (idle timeout 60s): keep-alive above it.
const express = require('express');
const { logger } = require('./logger');

const PORT = Number(process.env.PORT) || 3000;
const app = express();

app.get('/healthz', (req, res) => res.send('ok'));
app.use('/api', require('./routes/api'));

const server = app.listen(PORT, () => {
  logger.info(`listening on ${PORT}`);
});

// The ALB keeps idle connections 60s: close ours later than that.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66 * 1000; // must exceed keepAliveTimeout

process.on('SIGTERM', () => server.close());
