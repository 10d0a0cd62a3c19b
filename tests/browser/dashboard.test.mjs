// tests/browser/dashboard.test.mjs — bff-web's dashboard in headless Chromium.
//
// run.sh starts shop-services and bff-web on port 0 (read from their lines) and passes:
//   PORTICO_WEB      http://127.0.0.1:PORT of bff-web (serves the page and the API)
//   PORTICO_CONTROL  http://127.0.0.1:PORT of the shop's control port (faults)
//   PORTICO_TOKEN    a support agent's token
//   PORTICO_TMP      a scratch folder (Chromium's profile, the screenshots)
// It loads the page, opens order o-1, checks what is drawn, makes inventory
// slow and checks the page names inventory as missing. Exit 0 when all passed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';

const web = process.env.PORTICO_WEB;
const control = process.env.PORTICO_CONTROL;
const token = process.env.PORTICO_TOKEN;
const tmp = process.env.PORTICO_TMP;
for (const [k, v] of Object.entries({ web, control, token, tmp })) {
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

async function fault(service, query) {
  const res = await fetch(`${control}/fault/${service}${query ? '?' + query : ''}`,
                          { method: 'POST' });
  assert.equal(res.status, 200, `fault ${service} ${query}: ${res.status}`);
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
  page.on('console', (m) => {
    // a 4xx the page asked for on purpose is logged by Chromium as a console
    // error; anything else the page writes at error level is a failure
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) pageErrors.push(m.text());
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
    await page.screenshot({ path: path.join(tmp, 'dashboard-missing.png'), fullPage: true });
  });

  await step('inventory back: the banner goes away', async () => {
    await page.fill('#order-id', 'o-1');
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('#result').dataset.order === 'o-1');
    assert.equal(await page.isHidden('#missing'), true);
  });

  await step('no script errors on the page', async () => {
    assert.deepEqual(pageErrors, []);
  });
} catch (e) {
  failed = true;
} finally {
  await context.close();
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(failed || passed !== results.length ? 1 : 0);
