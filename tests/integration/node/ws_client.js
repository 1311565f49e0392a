// ws_client.js — a Node `ws` client the integration tests drive: one scenario per run, given as a JSON
// argument; prints one JSON line with what it saw. Run with NODE_PATH=tests/node/node_modules.
//
//   {"scenario":"echo", "url", "host", "protocols":[], "perMessageDeflate":bool, "bigBytes":N,
//    "closeCode":N, "closeReason":"..."}
//       text, binary, fragmented (three frames), one bigBytes message, ping/pong, then a client-initiated
//       close; reports each check, the negotiated protocol/extensions and the close code seen from the peer.
//   {"scenario":"server-close", "url", "host", "trigger":"text"}
//       sends trigger and waits for the peer to close; reports the close code and reason.
//   {"scenario":"handshake", "url", "host", "protocols":[]}
//       reports "open" (with protocol) or the unexpected HTTP status and body, or the error.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const spec = JSON.parse(process.argv[2]);
const result = { scenario: spec.scenario, checks: {} };

function finish(extra) {
  Object.assign(result, extra || {});
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

setTimeout(() => finish({ error: 'timeout' }), spec.timeoutMs || 30000).unref();

function open() {
  const opts = { perMessageDeflate: !!spec.perMessageDeflate, maxPayload: 64 * 1024 * 1024 };
  if (spec.host) opts.headers = { Host: spec.host };
  const ws = new WebSocket(spec.url, spec.protocols || [], opts);
  ws.on('upgrade', (res) => { result.upgradeHeaders = res.headers; });
  ws.on('unexpected-response', (req, res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => finish({ status: res.statusCode, headers: res.headers, body }));
  });
  ws.on('error', (err) => finish({ error: String(err && err.message) }));
  return ws;
}

// Resolves with the next message (data, isBinary).
function nextMessage(ws) {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
}

async function echoScenario(ws) {
  result.protocol = ws.protocol;
  result.extensions = ws.extensions;

  let m;
  ws.send('hello through tollgate');
  m = await nextMessage(ws);
  result.checks.text = !m.isBinary && m.data.toString() === 'hello through tollgate';

  const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  ws.send(bin);
  m = await nextMessage(ws);
  result.checks.binary = m.isBinary && Buffer.compare(m.data, bin) === 0;

  ws.send('frag-1/', { fin: false });
  ws.send('frag-2/', { fin: false });
  ws.send('frag-3', { fin: true });
  m = await nextMessage(ws);
  result.checks.fragmented = !m.isBinary && m.data.toString() === 'frag-1/frag-2/frag-3';

  if (spec.bigBytes) {
    const big = crypto.randomBytes(spec.bigBytes);
    ws.send(big);
    m = await nextMessage(ws);
    result.checks.big = m.isBinary && m.data.length === big.length && Buffer.compare(m.data, big) === 0;
  }

  const pong = new Promise((resolve) => ws.once('pong', (data) => resolve(data.toString())));
  ws.ping('are-you-there');
  result.checks.pingPong = (await pong) === 'are-you-there';

  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.close(spec.closeCode || 1000, spec.closeReason || '');
  const c = await closed;
  result.closeCode = c.code;
  result.closeReason = c.reason;
  finish({ ok: Object.values(result.checks).every(Boolean) });
}

async function serverCloseScenario(ws) {
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.send(spec.trigger);
  const c = await closed;
  finish({ ok: true, closeCode: c.code, closeReason: c.reason });
}

const ws = open();
ws.on('open', () => {
  const body = spec.scenario === 'echo' ? echoScenario
    : spec.scenario === 'server-close' ? serverCloseScenario
      : async (w) => { const protocol = w.protocol; w.terminate(); finish({ open: true, protocol }); };
  body(ws).catch((err) => finish({ error: String(err && err.stack) }));
});
