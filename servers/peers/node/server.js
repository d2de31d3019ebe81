// server.js: the Node.js peer (servers/peers/README.md, "node"). One
// process, one libuv event loop.
//
//   node server.js echo|http HOST PORT ROOT
//
// Run by servers/peers/node/serve, which checks the arguments first.
'use strict';
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const [proto, host, portText, root] = process.argv.slice(2);

// Content types by extension, as a small static server would keep them.
const kTypes = {
  '.html': 'text/html', '.htm': 'text/html', '.txt': 'text/plain', '.css': 'text/css',
  '.js': 'application/javascript', '.json': 'application/json', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.gif': 'image/gif', '.svg': 'image/svg+xml',
};

function contentType(file) {
  return kTypes[path.extname(file).toLowerCase()] || 'application/octet-stream';
}

function notFound(res) {
  res.writeHead(404, { 'Content-Length': 0 });
  res.end();
}

// Each GET reads the whole file with fs.readFile (open, fstat, read, close
// on libuv's thread pool); a HEAD only stats it.
function serveFile(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
    res.end();
    return;
  }
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://peer').pathname);
  } catch (e) {
    res.writeHead(400, { 'Content-Length': 0, Connection: 'close' });
    res.end();
    return;
  }
  const file = path.join(root, path.normalize('/' + pathname));
  if (req.method === 'HEAD') {
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return notFound(res);
      res.writeHead(200, { 'Content-Type': contentType(file), 'Content-Length': st.size });
      res.end();
    });
    return;
  }
  fs.readFile(file, (err, data) => {
    if (err) return notFound(res);
    res.writeHead(200, { 'Content-Type': contentType(file), 'Content-Length': data.length });
    res.end(data);
  });
}

function echo(socket) {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
}

let server;
if (proto === 'http') {
  server = http.createServer(serveFile);
  // Idle and slow connections are kept, as the models keep them.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
} else {
  server = net.createServer(echo);
}
server.on('error', (err) => {
  process.stderr.write(`peer_node: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host, port: Number(portText), backlog: 65535 }, () => {
  const bound = server.address().port;
  process.stdout.write(`listening ${host}:${bound} model=peer:node proto=${proto} pid=${process.pid}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
