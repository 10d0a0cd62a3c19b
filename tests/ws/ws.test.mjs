// tests/ws/ws.test.mjs — WebSocket through the gateway, with a real client
// (the `ws` package) on both ends: the demo shop's /live (orders) and a
// service of the test's own that records what it receives.
//
// Starts shop-services, the test's own service and bff-mobile (a config of
// its own) on loopback ports they choose, runs the cases in order, stops
// everything. Every wait is for an event, with a bound; nothing sleeps to
// synchronise. Env: BFF_BUILD_ROOT (meson's build folder).
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';

const build = process.env.BFF_BUILD_ROOT;
if (!build) throw new Error('BFF_BUILD_ROOT must name the meson build folder');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-ws-'));
const procs = [];
let failed = 0;

function cleanup() {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
}
process.on('exit', () => {
  cleanup();
  if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

// The first line of @file matching @re, once written (10 s at most).
async function waitLine(file, re, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const line = text.split('\n').find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > until) throw new Error(`${file}: no line matching ${re} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function start(bin, args, name) {
  const out = fs.openSync(path.join(tmp, name + '.log'), 'w');
  const p = spawn(bin, args, { stdio: ['ignore', out, out] });
  procs.push(p);
  return p;
}

// Resolves with the first of @emitter's @events (name and arguments), or
// rejects after @ms.
function first(emitter, events, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`none of ${events} within ${ms} ms`)), ms);
    for (const e of events)
      emitter.once(e, (...args) => {
        clearTimeout(t);
        resolve({ event: e, args });
      });
  });
}

// A connected client, or the HTTP answer that refused it.
async function connect(url, opts = {}) {
  const ws = new WebSocket(url, opts.protocols || [], { headers: opts.headers || {} });
  const got = [];
  ws.on('message', (d, binary) => got.push({ d, binary }));
  ws.on('error', () => {});
  const r = await first(ws, ['open', 'unexpected-response', 'error']);
  if (r.event === 'unexpected-response') {
    const res = r.args[1];
    let body = '';
    for await (const c of res) body += c;
    return { refused: res.statusCode, headers: res.headers, body };
  }
  if (r.event === 'error') return { error: r.args[0] };
  ws.got = got;
  // the next message (already received or to come)
  ws.next = async (ms = 5000) => {
    if (got.length) return got.shift();
    await first(ws, ['message'], ms);
    return got.shift();
  };
  return ws;
}

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${(e && e.stack) || e}`);
  }
}

function rawGet(port, p, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('upgrade', (res, sock) => {
      sock.destroy();
      resolve({ status: res.statusCode, headers: res.headers, body: '', upgraded: true });
    });
    req.on('error', reject);
    req.end();
  });
}

async function metrics(admin) {
  const r = await rawGet(admin, '/metrics', {});
  return r.body;
}
function metric(text, name, labels) {
  const line = text.split('\n').find((l) => l.startsWith(name + '{' + labels + '}'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

// ---- the services -------------------------------------------------------------

const shop = start(path.join(build, 'demo/shop-services'),
  ['--users-port', '0', '--orders-port', '0', '--inventory-port', '0', '--control-port', '0'],
  'shop');
const ready = await waitLine(path.join(tmp, 'shop.log'), /shop-services: ready /);
const ordersPort = Number(/orders=[^ ]*:(\d+)/.exec(ready)[1]);

// the test's own service: records each upgrade's request, echoes, answers
// /plain's upgrade with a 403 of its own (chunked), closes when told
const seen = [];
const own = http.createServer((req, res) => {
  seen.push({ url: req.url, headers: req.headers });
  res.writeHead(403, { 'Content-Type': 'application/json' });
  res.write('{"error":');
  res.end('"no_upgrade_here"}');
});
const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
});
const ownSockets = [];
own.on('upgrade', (req, sock, head) => {
  seen.push({ url: req.url, headers: req.headers });
  if (req.url.startsWith('/plain')) {
    sock.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n9\r\n{"error":\r\n12\r\n"no_upgrade_here"}\r\n0\r\n\r\n');
    return;
  }
  if (req.url.startsWith('/badhead')) { // a field name with a space: not a field line
    sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nBad Name: x\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, sock, head, (ws) => {
    ownSockets.push(ws);
    ws.closedAt = null;
    ws.on('close', (code, reason) => {
      ws.closedAt = Date.now();
      ws.closeCode = code;
      ws.closeReason = reason.toString();
    });
    ws.on('message', (d, binary) => ws.send(d, { binary }));
  });
});
own.listen(0, '127.0.0.1');
await once(own, 'listening');
const ownPort = own.address().port;
// a port nothing listens on (bound, then closed)
const dead = http.createServer();
dead.listen(0, '127.0.0.1');
await once(dead, 'listening');
const deadPort = dead.address().port;
dead.close();

// ---- the gateway --------------------------------------------------------------

execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
  '-out', path.join(tmp, 'key.pem')], { stdio: 'ignore' });
const tokenBin = path.join(build, 'demo/bff-token');
fs.writeFileSync(path.join(tmp, 'jwks.json'),
  execFileSync(tokenBin, ['--jwks', '--key', path.join(tmp, 'key.pem'), '--kid', 'ws']));
const token = execFileSync(tokenBin, ['--key', path.join(tmp, 'key.pem'), '--kid', 'ws',
  '--sub', '4412', '--roles', 'customer']).toString().trim();
const auth = { Authorization: `Bearer ${token}` };

fs.writeFileSync(path.join(tmp, 'gw.yaml'), `
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
workers: 2
drain_timeout: 1s
services:
  orders: { url: "http://127.0.0.1:${ordersPort}", timeout: 800ms }
  own:    { url: "http://127.0.0.1:${ownPort}", timeout: 800ms }
  idle:   { url: "http://127.0.0.1:${ownPort}", timeout: 800ms, idle_timeout: 300ms }
  down:   { url: "http://127.0.0.1:${deadPort}", connect_timeout: 200ms }
  multi:
    endpoints: ["http://127.0.0.1:${deadPort}", "http://127.0.0.1:${ordersPort}"]
    health_check: { path: /healthz, interval: 100ms }
auth:
  jwt:
    jwks_file: ${tmp}/jwks.json
    algorithms: [ES256]
routes:
  - path: /live
    service: orders
    auth: required
    websocket: true
  - path: /rl
    service: orders
    strip_prefix: true
    auth: required
    rate_limit: 2/min
    websocket: true
  - path: /few
    service: orders
    strip_prefix: true
    auth: required
    websocket: true
    max_streams: 1
  - path: /echo
    service: orders
    auth: required
  - path: /own
    service: own
    auth: required
    websocket: true
  - path: /plain
    service: own
    auth: required
    websocket: true
  - path: /badhead
    service: own
    auth: required
    websocket: true
  - path: /idle
    service: idle
    auth: required
    websocket: true
  - path: /down
    service: down
    auth: required
    websocket: true
  - path: /multi
    service: multi
    strip_prefix: true
    auth: required
    websocket: true
`);
const gwLog = path.join(tmp, 'gw.log');
const gw = start(path.join(build, 'bff-mobile/bff-mobile'), ['--config', path.join(tmp, 'gw.yaml')], 'gw');
const listening = await waitLine(gwLog, /"msg":"listening"/);
const port = Number(/"listen":"[^"]*:(\d+)"/.exec(listening)[1]);
const admin = Number(/"admin":"[^"]*:(\d+)"/.exec(listening)[1]);
const base = `ws://127.0.0.1:${port}`;

// ---- the cases ------------------------------------------------------------------

await step('demo /live: notification on connect, text and binary echoed, ping answered, client close', async () => {
  const ws = await connect(`${base}/live`, { headers: auth });
  assert.ok(ws instanceof WebSocket, `refused: ${JSON.stringify(ws)}`);
  const hello = await ws.next();
  assert.equal(hello.binary, false);
  assert.deepEqual(JSON.parse(hello.d.toString()),
    { type: 'notification', event: 'connected', user_id: '4412' });
  ws.send('héllo, orders');
  const t = await ws.next();
  assert.equal(t.binary, false);
  assert.equal(t.d.toString(), 'héllo, orders');
  const bin = Buffer.alloc(200000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + 3) & 0xff;
  ws.send(bin, { binary: true });
  const b = await ws.next();
  assert.equal(b.binary, true);
  assert.ok(Buffer.compare(b.d, bin) === 0, 'the binary message came back changed');
  ws.ping('are you there');
  const pong = await first(ws, ['pong']);
  assert.equal(pong.args[0].toString(), 'are you there');
  ws.close(1000, 'done here');
  const c = await first(ws, ['close']);
  assert.equal(c.args[0], 1000);
});

await step('the access log line is written when the WebSocket ends (status 101, bytes, duration)', async () => {
  const line = await waitLine(gwLog, /"route":"\/live","status":101/);
  const l = JSON.parse(line);
  assert.equal(l.user_id, '4412');
  assert.ok(l.bytes_in > 200000, `bytes_in ${l.bytes_in}`);
  assert.ok(l.bytes_out > 200000, `bytes_out ${l.bytes_out}`);
  assert.ok(l.duration_ms > 0);
});

await step('the service closes: the client gets its close frame, both connections end', async () => {
  const ws = await connect(`${base}/live`, { headers: auth });
  assert.ok(ws instanceof WebSocket);
  await ws.next(); // the notification
  ws.send('close');
  const c = await first(ws, ['close']);
  assert.equal(c.args[0], 1000);
  assert.equal(c.args[1].toString(), 'closed by the service');
});

await step('subprotocol and identity reach the service; Authorization does not', async () => {
  const ws = await connect(`${base}/own/room?x=1`, { headers: { ...auth, Origin: 'https://app.example' }, protocols: ['chat'] });
  assert.ok(ws instanceof WebSocket, JSON.stringify(ws));
  assert.equal(ws.protocol, 'chat');
  const h = seen.at(-1).headers;
  assert.equal(seen.at(-1).url, '/own/room?x=1');
  assert.equal(h.upgrade, 'websocket');
  assert.equal(h['x-user-id'], '4412');
  assert.equal(h['x-user-roles'], 'customer');
  assert.ok(h['x-request-id']);
  assert.match(h.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h.origin, 'https://app.example');
  assert.equal(h.authorization, undefined);
  // a megabyte each way, past the 64 KiB buffered per direction
  const big = Buffer.alloc(1 << 20, 0x5a);
  ws.send(big, { binary: true });
  const b = await ws.next(10000);
  assert.equal(b.d.length, big.length);
  ws.close();
  await first(ws, ['close']);
});

await step('401 before auth: no token, no upgrade', async () => {
  const r = await connect(`${base}/live`);
  assert.equal(r.refused, 401);
  assert.equal(r.headers['content-type'], 'application/problem+json');
});

await step('429 past the route\'s rate limit (2/min)', async () => {
  for (let i = 0; i < 2; i++) {
    const ws = await connect(`${base}/rl/live`, { headers: auth });
    assert.ok(ws instanceof WebSocket, `attempt ${i + 1}: ${JSON.stringify(ws)}`);
    ws.close();
    await first(ws, ['close']);
  }
  const r = await connect(`${base}/rl/live`, { headers: auth });
  assert.equal(r.refused, 429);
  assert.ok(r.headers['retry-after']);
  assert.equal(r.headers['content-type'], 'application/problem+json');
});

await step('503 past max_streams (1), and the slot is free again after close', async () => {
  const a = await connect(`${base}/few/live`, { headers: auth });
  assert.ok(a instanceof WebSocket);
  const r = await connect(`${base}/few/live`, { headers: auth });
  assert.equal(r.refused, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(JSON.parse(r.body).status, 503);
  a.close();
  await first(a, ['close']);
  // the gauge comes down once the gateway has closed its side too
  const until = Date.now() + 5000;
  let c;
  for (;;) {
    c = await connect(`${base}/few/live`, { headers: auth });
    if (c instanceof WebSocket || Date.now() > until) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok(c instanceof WebSocket, JSON.stringify(c));
  c.close();
  await first(c, ['close']);
});

await step('Upgrade stays stripped on a route without websocket: true', async () => {
  const r = await rawGet(port, '/echo', {
    ...auth, Upgrade: 'websocket', Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13',
  });
  assert.equal(r.status, 200);
  const echoed = JSON.parse(r.body);
  assert.equal(echoed.headers.upgrade, undefined, JSON.stringify(echoed.headers));
  assert.ok(!/upgrade/i.test(echoed.headers.connection || ''), echoed.headers.connection);
  const ws = await connect(`${base}/echo`, { headers: auth });
  assert.equal(ws.refused, 200);
});

await step('a malformed upgrade on a websocket route: 400, and 426 for another version', async () => {
  let r = await rawGet(port, '/live', { ...auth, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' });
  assert.equal(r.status, 400);
  assert.equal(r.headers['content-type'], 'application/problem+json');
  r = await rawGet(port, '/live', { ...auth, Upgrade: 'websocket', Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '8' });
  assert.equal(r.status, 426);
  assert.equal(r.headers['sec-websocket-version'], '13');
});

await step('a service that does not switch: its answer passed on (chunked, decoded)', async () => {
  const r = await connect(`${base}/plain`, { headers: auth });
  assert.equal(r.refused, 403);
  assert.deepEqual(JSON.parse(r.body), { error: 'no_upgrade_here' });
});

await step('a service whose 101 head has an invalid field line: 502 problem+json', async () => {
  const r = await connect(`${base}/badhead`, { headers: auth });
  assert.equal(r.refused, 502);
  assert.equal(r.headers['content-type'], 'application/problem+json');
});

await step('a service that refuses the connection: 502 problem+json', async () => {
  const r = await connect(`${base}/down`, { headers: auth });
  assert.equal(r.refused, 502);
  assert.equal(r.headers['content-type'], 'application/problem+json');
});

await step('endpoints: the first endpoint in force that is up (the health check took the first down)', async () => {
  const until = Date.now() + 10000;
  let state;
  for (;;) {
    const r = await rawGet(admin, '/admin/resilience', {});
    const eps = JSON.parse(r.body).services.multi.endpoints;
    state = eps.find((e) => e.endpoint === `127.0.0.1:${deadPort}`).state;
    if (state === 'down' || Date.now() > until) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(state, 'down');
  const ws = await connect(`${base}/multi/live`, { headers: auth });
  assert.ok(ws instanceof WebSocket, JSON.stringify(ws));
  assert.equal(JSON.parse((await ws.next()).d.toString()).event, 'connected');
  ws.close();
  await first(ws, ['close']);
});

await step('idle_timeout (300ms) closes both sides, each with a close frame 1001', async () => {
  const n = ownSockets.length;
  const ws = await connect(`${base}/idle`, { headers: auth });
  assert.ok(ws instanceof WebSocket);
  const t0 = Date.now();
  const c = await first(ws, ['close'], 5000);
  assert.ok(Date.now() - t0 >= 250, `closed after ${Date.now() - t0} ms`);
  assert.equal(c.args[0], 1001);
  assert.equal(c.args[1].toString(), 'idle timeout');
  const up = ownSockets[n];
  assert.ok(up, 'the service saw no connection');
  const until = Date.now() + 5000;
  while (!up.closedAt && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
  assert.ok(up.closedAt, 'the service side stayed open');
  assert.equal(up.closeCode, 1001); // a masked close frame: ws accepts it from a client only so
});

await step('metrics after close: streams ended by how, bytes, nothing open', async () => {
  const m = await metrics(admin);
  assert.ok(metric(m, 'bff_streams_total', 'route="/live",kind="websocket",end="complete"') >= 2, m);
  assert.equal(metric(m, 'bff_streams_open', 'route="/live",kind="websocket"'), 0);
  assert.ok(metric(m, 'bff_stream_bytes_total', 'route="/live",direction="in"') > 200000);
  assert.ok(metric(m, 'bff_stream_bytes_total', 'route="/live",direction="out"') > 200000);
  assert.ok(metric(m, 'bff_streams_total', 'route="/idle",kind="websocket",end="idle_timeout"') >= 1);
  assert.ok(metric(m, 'bff_streams_total', 'route="/down",kind="websocket",end="broken"') >= 1);
});

await step('an HTTPS listener (tls:): echo, and a close from either side reaches the other at once', async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', path.join(tmp, 'tls.key'), '-out', path.join(tmp, 'tls.crt'), '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  fs.writeFileSync(path.join(tmp, 'tls.yaml'), `
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
workers: 1
tls: { cert: ${tmp}/tls.crt, key: ${tmp}/tls.key }
services:
  orders: { url: "http://127.0.0.1:${ordersPort}" }
routes:
  - path: /live
    service: orders
    websocket: true
`);
  const tlsLog = path.join(tmp, 'tls.log');
  const tgw = start(path.join(build, 'bff-mobile/bff-mobile'), ['--config', path.join(tmp, 'tls.yaml')], 'tls');
  const l = await waitLine(tlsLog, /"msg":"listening"/);
  const tport = Number(/"listen":"[^"]*:(\d+)"/.exec(l)[1]);
  const url = `wss://127.0.0.1:${tport}/live`;
  const tlsOpts = { rejectUnauthorized: false };
  // a close that libmicrohttpd did not carry through would show only at the
  // client's own close timeout (30 s): 2 s is the bound here
  for (const who of ['client', 'service']) {
    const ws = new WebSocket(url, tlsOpts);
    const got = [];
    ws.on('message', (d) => got.push(d));
    ws.on('error', () => {});
    await first(ws, ['open']);
    const bin = Buffer.alloc(150000, 0x33);
    ws.send('over tls');
    ws.send(bin, { binary: true });
    const until = Date.now() + 5000;
    while (got.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 3, `${got.length} messages`);
    assert.equal(JSON.parse(got[0].toString()).event, 'connected');
    assert.equal(got[1].toString(), 'over tls');
    assert.equal(got[2].length, bin.length);
    const t0 = Date.now();
    if (who === 'client') ws.close(1000, 'bye');
    else ws.send('close');
    const c = await first(ws, ['close'], 10000);
    assert.equal(c.args[0], 1000);
    assert.ok(Date.now() - t0 < 2000, `the ${who}'s close took ${Date.now() - t0} ms`);
  }
  const lines = (await waitLine(tlsLog, /"status":101/)) && fs.readFileSync(tlsLog, 'utf8');
  assert.ok((lines.match(/"route":"\/live","status":101/g) || []).length >= 1);
  tgw.kill('SIGTERM');
  const [code] = await once(tgw, 'exit');
  assert.equal(code, 0);
});

await step('the gateway stops: an open WebSocket is closed after drain_timeout, logged', async () => {
  const ws = await connect(`${base}/live`, { headers: auth });
  assert.ok(ws instanceof WebSocket);
  await ws.next();
  const before = fs.readFileSync(gwLog, 'utf8').split('\n').length;
  gw.kill('SIGTERM');
  const c = await first(ws, ['close'], 5000);
  assert.equal(c.args[0], 1001);
  assert.equal(c.args[1].toString(), 'the gateway is stopping');
  const [code] = await once(gw, 'exit');
  assert.equal(code, 0);
  const lines = fs.readFileSync(gwLog, 'utf8').split('\n').slice(before - 1);
  assert.ok(lines.some((l) => /"route":"\/live","status":101/.test(l)), lines.join('\n'));
});

own.close();
for (const s of ownSockets) s.terminate();
shop.kill('SIGTERM');
await once(shop, 'exit');
if (failed) {
  for (const f of ['gw.log', 'shop.log']) {
    console.log(`--- ${f}`);
    console.log(fs.readFileSync(path.join(tmp, f), 'utf8').split('\n').slice(-30).join('\n'));
  }
}
process.exit(failed ? 1 : 0);
