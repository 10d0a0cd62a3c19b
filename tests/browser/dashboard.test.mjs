// tests/browser/dashboard.test.mjs — bff-web's dashboard in headless Chromium.
//
// run.sh starts shop-services and bff-web on port 0 (read from their lines) and passes:
//   PORTICO_WEB      http://127.0.0.1:PORT of bff-web (serves the page and the API)
//   PORTICO_CONTROL  http://127.0.0.1:PORT of the shop's control port (faults)
//   PORTICO_TOKEN    a support agent's token
//   PORTICO_TMP      a scratch folder (Chromium's profile, the screenshots)
//   PORTICO_SET_ORIGINS    a script: its arguments join bff-web's cors.origins
//                          (by a reload); the test serves two pages on ports it
//                          binds itself, and passes only one of them
// It loads the page, opens order o-1, checks what is drawn, makes inventory
// slow and checks the page names inventory as missing; opens o-5 and moves
// its status through the control port, with the orders service refused for
// a while, and checks the page follows live (its event stream, reconnected
// with Last-Event-ID) without a reload; then, from a page on
// each of the two other origins (served by a tiny server started here), checks
// what a cross-origin script may read. Exit 0 when all passed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const web = process.env.PORTICO_WEB;
const control = process.env.PORTICO_CONTROL;
const token = process.env.PORTICO_TOKEN;
const tmp = process.env.PORTICO_TMP;
const setOrigins = process.env.PORTICO_SET_ORIGINS;
for (const [k, v] of Object.entries({ web, control, token, tmp, setOrigins })) {
  if (!v) {
    console.error(`dashboard test: ${k} is not set (run it through tests/browser/run.sh)`);
    process.exit(2);
  }
}

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`);
    throw e;
  }
}

// The waterfall as drawn: each bar's service, data and pixel extent, and the
// deadline marker's x.
async function waterfall(page) {
  return page.$eval('#waterfall', (fig) => {
    const bars = [...fig.querySelectorAll('.wf-bar')].map((b) => {
      const r = b.getBoundingClientRect();
      return { service: b.dataset.service, ms: b.dataset.ms, start: b.dataset.start,
               left: r.left, right: r.right, width: r.width,
               failed: b.classList.contains('failed') };
    });
    const d = fig.querySelector('.wf-deadline');
    return { bars, deadline: { ms: d.dataset.ms, hidden: d.hidden, label: d.dataset.label,
                               x: d.getBoundingClientRect().left } };
  });
}

async function setOrderStatus(id, to) {
  const res = await fetch(`${control}/orders/${id}/status?to=${to}`, { method: 'POST' });
  assert.equal(res.status, 200, `status ${id} ${to}: ${res.status}`);
  return res.json();
}

async function fault(service, query) {
  const res = await fetch(`${control}/fault/${service}${query ? '?' + query : ''}`,
                          { method: 'POST' });
  assert.equal(res.status, 200, `fault ${service} ${query}: ${res.status}`);
}

// One blank page per extra origin: the cross-origin fetches run from it.
// Each listens on a port the kernel picks; only the first one's origin goes
// into cors.origins.
const servers = [];
for (let i = 0; i < 2; i++) {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>elsewhere</title><p>another origin</p>');
  });
  await new Promise((ok, ko) => { srv.once('error', ko); srv.listen(0, '127.0.0.1', ok); });
  servers.push(srv);
}
const [otherPort, strangerPort] = servers.map((s) => s.address().port);
execFileSync('bash', [setOrigins, `http://127.0.0.1:${otherPort}`], { stdio: 'inherit' });

// Runs in a page of another origin: fetches an order (a preflighted request,
// Authorization is not a simple header) and a static file (a simple request),
// credentials omitted, and reports what the script could read.
async function crossOriginReads(page) {
  return page.evaluate(async ({ web, token }) => {
    const out = {};
    try {
      const api = await fetch(`${web}/api/orders/o-1`,
                              { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
      await api.json();
      out.apiStatus = api.status;
      out.serverTiming = api.headers.get('Server-Timing');
      out.requestId = api.headers.get('X-Request-Id');
      const entry = performance.getEntriesByName(`${web}/api/orders/o-1`)[0];
      out.timingEntries = entry ? entry.serverTiming.map((t) => t.name).sort() : null;
    } catch (e) { out.apiError = String(e); }
    try {
      const css = await fetch(`${web}/app.css`, { credentials: 'omit' });
      await css.text();
      out.etag = css.headers.get('ETag');
    } catch (e) { out.cssError = String(e); }
    try { // a request header outside cors.headers: the preflight does not allow it
      await fetch(`${web}/api/orders/o-1`, {
        headers: { Authorization: `Bearer ${token}`, 'X-Not-Allowed': '1' }, credentials: 'omit' });
      out.extraHeader = 'sent';
    } catch (e) { out.extraHeader = 'refused'; }
    return out;
  }, { web, token });
}

const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  let streamOutage = false; // while the test has the orders service refused
  page.on('console', (m) => {
    // a 4xx the page asked for on purpose is logged by Chromium as a console
    // error, and so is a 502/503 of the event stream while orders is refused;
    // anything else the page writes at error level is a failure
    if (m.type() !== 'error' || /status of 40[13]/.test(m.text())) return;
    if (streamOutage && /status of 50[23]|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(m.text()) &&
        /\/orders\/[^/]+\/events$/.test(m.location().url || '')) return;
    pageErrors.push(m.text());
  });
  // the event-stream requests the page makes, with their Last-Event-ID
  const streamRequests = [];
  page.on('request', (req) => {
    if (/\/orders\/[^/]+\/events$/.test(req.url()))
      streamRequests.push({ url: req.url(), lastEventId: req.headers()['last-event-id'] || null });
  });

  await step('the page loads with its script and style', async () => {
    const res = await page.goto(web + '/');
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/html/);
    assert.equal(await page.title(), 'Portico — support dashboard');
    // app.css applied: the header has its dark background
    const bg = await page.$eval('header', (el) => getComputedStyle(el).backgroundColor);
    assert.equal(bg, 'rgb(34, 49, 74)');
  });

  await step('a bad token shows the problem, not a page', async () => {
    await page.fill('#token', 'not-a-token');
    await page.fill('#order-id', 'o-1');
    await page.click('#open');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /^401 Unauthorized/);
    assert.equal(await page.isHidden('#result'), true);
  });

  await step('order o-1: customer, items with stock, timings', async () => {
    await page.fill('#token', token);
    await page.fill('#order-id', 'o-1');
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('#result').dataset.order === 'o-1');
    assert.equal(await page.isHidden('#error'), true);
    assert.equal(await page.isHidden('#missing'), true);
    assert.equal(await page.textContent('#order [data-field=id]'), 'o-1');
    assert.equal(await page.textContent('#order [data-field=status]'), 'paid');
    assert.equal(await page.textContent('#order [data-field=total]'), '€45.99');
    assert.equal(await page.textContent('#customer [data-field=name]'), 'Ada Lovelace');
    assert.equal(await page.textContent('#customer [data-field=email]'), 'ada@example.com');
    const rows = await page.$$eval('#items tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['SKU-1', 'Kettle', '1', '€29.99', '42 in stock', 'BER-1'],
      ['SKU-2', 'Mug', '2', '€8.00', '120 in stock', 'BER-1'],
    ]);
    const services = await page.$$eval('#timings tbody tr', (trs) =>
      trs.map((tr) => tr.dataset.service).sort());
    assert.deepEqual(services, ['inventory', 'orders', 'users']);
    const ms = await page.$$eval('#timings tbody tr td.num:nth-child(2)',
                                 (tds) => tds.map((td) => Number(td.textContent)));
    assert.ok(ms.every((v) => v >= 0 && v < 2000), `timings ${ms}`);
    // the waterfall: one bar per call, placed by start offset and duration,
    // and the route's deadline (timeout: 2s) marked to the right of them all
    const wf = await waterfall(page);
    assert.deepEqual(wf.bars.map((b) => b.service).sort(), services);
    assert.equal(wf.bars.length, ms.length);
    const bar = Object.fromEntries(wf.bars.map((b) => [b.service, b]));
    assert.ok(wf.bars.every((b) => b.width >= 1 && !b.failed), JSON.stringify(wf.bars));
    // users and inventory are asked after the order came back
    for (const s of ['users', 'inventory'])
      assert.ok(bar[s].left >= bar.orders.right - 1, `${s} starts before orders ended: ${JSON.stringify(wf)}`);
    for (const s of ['users', 'inventory'])
      assert.ok(Number(bar[s].start) >= Number(bar.orders.start) + Number(bar.orders.ms) - 0.2);
    assert.equal(wf.deadline.ms, '2000');
    assert.equal(wf.deadline.hidden, false);
    assert.ok(wf.bars.every((b) => b.right <= wf.deadline.x + 1), JSON.stringify(wf));
    // fast calls on a 2 s deadline: the axis fits the calls, the deadline is
    // marked as off the scale
    assert.equal(wf.deadline.label, 'deadline 2000 ms ›');
    await page.screenshot({ path: path.join(tmp, 'dashboard-o-1.png'), fullPage: true });
  });

  await step("the customer's orders, newest first", async () => {
    await page.click('#more-orders');
    await page.waitForSelector('#history:not([hidden])');
    const ids = await page.$$eval('#history-list tbody tr td:first-child',
                                  (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(ids, ['o-5', 'o-4', 'o-3', 'o-2', 'o-1']);
    assert.equal(await page.isHidden('#history-next'), true);
  });

  await step('inventory slow: the page names it missing', async () => {
    await fault('inventory', 'delay_ms=1500');
    try {
      await page.fill('#order-id', 'o-3');
      await page.click('#open');
      await page.waitForFunction(() => document.querySelector('#result').dataset.order === 'o-3');
      await page.waitForSelector('#missing:not([hidden])');
    } finally {
      await fault('inventory', '');
    }
    const banner = await page.textContent('#missing');
    assert.match(banner, /^Missing: stock \(inventory service: timeout\) — shown without it\.$/);
    assert.equal(await page.getAttribute('#missing', 'data-parts'), 'inventory');
    const stock = await page.$$eval('#items tbody tr td.stock', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(stock, ['unknown', 'unknown']);
    // what did come is still drawn
    assert.equal(await page.textContent('#customer [data-field=name]'), 'Ada Lovelace');
    assert.equal(await page.textContent('#order [data-field=status]'), 'delivered');
    const inv = await page.$eval('#timings tbody tr[data-service=inventory]',
                                 (tr) => [...tr.children].map((td) => td.textContent));
    assert.equal(inv[3], 'timeout');
    // in the picture: the inventory bar is the failed one, ended by its own
    // 800 ms timeout well before the route's deadline
    const wf = await waterfall(page);
    assert.equal(wf.bars.length, 3);
    const failed = wf.bars.filter((b) => b.failed).map((b) => b.service);
    assert.deepEqual(failed, ['inventory']);
    const invBar = wf.bars.find((b) => b.service === 'inventory');
    assert.ok(Number(invBar.ms) >= 700, `inventory took ${invBar.ms} ms`);
    assert.ok(invBar.right < wf.deadline.x, JSON.stringify(wf));
    assert.equal(wf.deadline.label, 'deadline 2000 ms'); // on the scale now
    await page.screenshot({ path: path.join(tmp, 'dashboard-missing.png'), fullPage: true });
  });

  await step('inventory back: the banner goes away', async () => {
    await page.fill('#order-id', 'o-1');
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('#result').dataset.order === 'o-1');
    assert.equal(await page.isHidden('#missing'), true);
  });

  await step("o-5's status follows its event stream, across an outage, without reload", async () => {
    const statusIs = (want) => page.waitForFunction(
      (w) => document.querySelector('#order [data-field=status]').textContent === w, want,
      { timeout: 20000 });
    const liveIs = (want) => page.waitForFunction(
      (w) => document.querySelector('#live').dataset.state === w, want, { timeout: 20000 });
    await page.fill('#order-id', 'o-5');
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('#result').dataset.order === 'o-5');
    assert.equal(await page.textContent('#order [data-field=status]'), 'pending');
    await liveIs('live');
    assert.equal(await page.textContent('#live'), 'live');
    const opened = streamRequests.length;
    assert.ok(opened >= 1 && streamRequests[opened - 1].url.endsWith('/orders/o-5/events'));
    assert.equal(streamRequests[opened - 1].lastEventId, null);
    // a mark on the window: gone if the page were loaded again
    await page.evaluate(() => { window.portico_mark = 'still here'; });
    const paid = await setOrderStatus('o-5', 'paid');
    await statusIs('paid');
    // the service goes away: the stream breaks, the page says so and retries
    streamOutage = true;
    try {
      await fault('orders', 'refuse=1');
      await liveIs('reconnecting');
      assert.equal(await page.textContent('#live'), 'reconnecting…');
      const shipped = await setOrderStatus('o-5', 'shipped'); // while it is away
      assert.equal(shipped.event_id, paid.event_id + 1);
      await fault('orders', '');
      // back: the missed change arrives, asked for after the last event seen
      await statusIs('shipped');
      await liveIs('live');
    } finally {
      streamOutage = false;
      await fault('orders', '');
    }
    const again = streamRequests.slice(opened);
    assert.ok(again.length >= 1, JSON.stringify(streamRequests));
    assert.ok(again.every((r) => r.lastEventId === String(paid.event_id)), JSON.stringify(again));
    // a final status ends the stream, and the page stops asking
    await setOrderStatus('o-5', 'delivered');
    await statusIs('delivered');
    await liveIs('ended');
    assert.equal(await page.textContent('#live'), 'final');
    assert.equal(await page.evaluate(() => window.portico_mark), 'still here');
    // the page's first answer for o-5 says the same (no reload needed to see it)
    const res = await fetch(`${control}/orders/o-5/status`);
    assert.equal((await res.json()).status, 'delivered');
    await page.screenshot({ path: path.join(tmp, 'dashboard-live.png'), fullPage: true });
    // leave the shop as it was for the steps after this one
    assert.equal((await fetch(`${control}/reset`, { method: 'POST' })).status, 200);
  });

  await step('a page on a configured origin reads ETag and Server-Timing', async () => {
    const other = await context.newPage();
    try {
      await other.goto(`http://127.0.0.1:${otherPort}/`);
      const got = await crossOriginReads(other);
      assert.equal(got.apiError, undefined, got.apiError);
      assert.equal(got.apiStatus, 200);
      // one entry per service call, readable through Access-Control-Expose-Headers
      assert.match(got.serverTiming, /\busers;dur=[0-9.]+/);
      assert.match(got.serverTiming, /\borders;dur=[0-9.]+/);
      assert.match(got.serverTiming, /\binventory;dur=[0-9.]+/);
      assert.match(got.requestId, /^[0-9a-f]{32}$/);
      // and in Resource Timing, through Timing-Allow-Origin
      assert.deepEqual(got.timingEntries, ['inventory', 'orders', 'users']);
      // a static file's strong tag ("-br" or "-gzip" when it was sent compressed:
      // Chromium asks for "gzip, deflate, br", and br wins at equal q)
      assert.match(got.etag || '', /^"[A-Za-z0-9_-]{22}(-gzip|-br)?"$/);
      assert.equal(got.extraHeader, 'refused');
    } finally {
      await other.close();
    }
  });

  await step('a page on an origin not configured reads nothing', async () => {
    const stranger = await context.newPage();
    try {
      await stranger.goto(`http://127.0.0.1:${strangerPort}/`);
      const got = await crossOriginReads(stranger);
      assert.match(got.apiError || '', /TypeError/);
      assert.match(got.cssError || '', /TypeError/);
    } finally {
      await stranger.close();
    }
  });

  await step('no script errors on the page', async () => {
    assert.deepEqual(pageErrors, []);
  });
} catch (e) {
  failed = true;
} finally {
  await context.close();
  for (const srv of servers) srv.close();
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(failed || passed !== results.length ? 1 : 0);
