// Drives websocketbridge.js against a live server; prints one JSON line per event for the Python test.
// Usage: node --experimental-websocket bridge_client.js <bridge.js path> <ws://host:port>
'use strict';
const {WebSocketBridge} = require(process.argv[2]);
const base = process.argv[3];
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const options = {constructor: WebSocket, minReconnectionDelay: 200, maxReconnectionDelay: 800};

const mux = new WebSocketBridge(options);
mux.connect(base + '/mux/');
let opens = 0;
mux.demultiplex('echo', (payload, stream) => out({event: 'stream', stream, payload}));
mux.listen((action, stream) => out({event: 'plain-on-mux', action, stream}));
mux.socket.addEventListener('open', () => {
  opens += 1;
  out({event: 'open', count: opens});
  mux.stream('echo').send({n: opens});
});
mux.socket.addEventListener('close', (e) => out({event: 'close', code: e.code}));

const plain = new WebSocketBridge(options);
plain.connect(base + '/echo/');
plain.listen((action, stream) => out({event: 'plain', action, stream}));
plain.send({queued: true});   // before the socket is open: queued, then sent on open
