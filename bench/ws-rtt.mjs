// bench/ws-rtt.mjs — WebSocket echo round trips, sequential, one connection
// per target: a small text message out, its echo back, timed each.
// Usage: node bench/ws-rtt.mjs N ROUNDS NAME=URL [NAME=URL ...]
// The targets take turns (ROUNDS rounds of N/ROUNDS trips each, after 200
// warm-up trips), so that both see the same machine. Prints one row per
// target: name, trips, median, p90, p99 (microseconds).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/ws/package.json'));
const WebSocket = require('ws');

const [n, rounds, ...targets] = process.argv.slice(2);
const N = Number(n), R = Number(rounds);
const msg = 'order o-1 status? ' + 'x'.repeat(14); // 32 bytes

async function open(url) {
  const ws = new WebSocket(url, { rejectUnauthorized: false }); // wss: a self-signed test cert
  ws.binaryType = 'nodebuffer';
  // the demo's notification may come in the same read as the 101
  const hello = new Promise((res) => ws.once('message', res));
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  await hello;
  return ws;
}
function trip(ws) {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    ws.once('message', () => res(Number(process.hrtime.bigint() - t0) / 1000));
    ws.send(msg);
  });
}

const conns = [];
for (const t of targets) {
  const [name, url] = t.split('=');
  const ws = await open(url);
  for (let i = 0; i < 200; i++) await trip(ws);
  conns.push({ name, ws, us: [] });
}
for (let r = 0; r < R; r++)
  for (const c of conns)
    for (let i = 0; i < N / R; i++) c.us.push(await trip(c.ws));
const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
for (const c of conns) {
  c.us.sort((a, b) => a - b);
  console.log([c.name, c.us.length, q(c.us, 0.5).toFixed(1), q(c.us, 0.9).toFixed(1),
    q(c.us, 0.99).toFixed(1)].join('\t'));
  c.ws.close();
}
