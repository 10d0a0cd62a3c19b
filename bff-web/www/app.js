/* bff-web/www/app.js — the support dashboard: one order through
 * GET /api/orders/{id}, its live status through GET /orders/{id}/events
 * (Server-Sent Events), a customer's orders through
 * GET /api/customers/{id}/orders. Plain DOM, no build step; every value from
 * the API goes in with textContent, never as HTML. */
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);

/* What each part of an answer is, for the banner when it is missing. */
const PART_NAMES = { users: 'customer', inventory: 'stock', orders: 'orders' };

let lastCustomer = null;
let nextCursor = null;

function token() {
  return $('#token').value.trim().replace(/^Bearer\s+/i, '');
}

function money(cents, currency) {
  if (typeof cents !== 'number') return '—';
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: currency || 'EUR' })
      .format(cents / 100);
  } catch (e) {
    return (cents / 100).toFixed(2) + ' ' + (currency || '');
  }
}

function fill(root, values) {
  for (const el of root.querySelectorAll('[data-field]')) {
    const v = values ? values[el.dataset.field] : undefined;
    el.textContent = v === undefined || v === null ? '—' : String(v);
  }
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function setStatus(text) {
  $('#status').textContent = text;
}

function showError(text) {
  const el = $('#error');
  el.textContent = text;
  el.hidden = !text;
}

/* GET @path with the token; resolves to {status, body} or throws with a
 * readable message (a problem+json answer's title and detail). */
async function api(path) {
  const res = await fetch(path, {
    headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json' },
  });
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const what = body && body.title ? body.title + (body.detail ? ': ' + body.detail : '')
                                    : 'HTTP ' + res.status;
    throw new Error(`${res.status} ${what}`);
  }
  return body;
}

function showMissing(partial, timings) {
  const el = $('#missing');
  if (!partial || partial.length === 0) {
    el.hidden = true;
    el.textContent = '';
    el.dataset.parts = '';
    return;
  }
  el.dataset.parts = partial.join(',');
  // "stock (inventory service: timeout)": what is missing, whose it is, why
  const one = (p) => {
    const err = timings && timings[p] && timings[p].error;
    return `${PART_NAMES[p] || p} (${p} service${err ? ': ' + err : ''})`;
  };
  el.textContent = 'Missing: ' + partial.map(one).join(', ') + ' — shown without it.';
  el.hidden = false;
}

function drawItems(items) {
  const tbody = $('#items tbody');
  tbody.replaceChildren();
  for (const it of items) {
    const tr = document.createElement('tr');
    tr.dataset.sku = it.sku;
    cell(tr, it.sku);
    cell(tr, it.name);
    cell(tr, String(it.qty), 'num');
    cell(tr, money(it.price_cents), 'num');
    const inv = it.inventory;
    if (!inv) {
      cell(tr, 'unknown', 'stock unknown');
      cell(tr, '—');
    } else {
      cell(tr, inv.in_stock ? `${inv.quantity} in stock` : 'out of stock',
           'stock ' + (inv.in_stock ? 'in' : 'out'));
      cell(tr, inv.warehouse || '—');
    }
    tbody.appendChild(tr);
  }
}

function drawTimings(timings) {
  const tbody = $('#timings tbody');
  tbody.replaceChildren();
  for (const [service, t] of Object.entries(timings || {})) {
    const tr = document.createElement('tr');
    tr.dataset.service = service;
    cell(tr, service);
    cell(tr, typeof t.ms === 'number' ? t.ms.toFixed(1) : '—', 'num');
    cell(tr, t.status ? String(t.status) : '—', 'num');
    cell(tr, t.error || '');
    tbody.appendChild(tr);
  }
}

/* The timings as a picture: one bar per service call, from its start
 * offset for its duration, with the route's deadline marked. The axis ends
 * at the deadline when the calls used a fair share of it (a quarter or
 * more); else it ends a little past the last call, so that fast calls stay
 * readable, and the deadline mark sits at the right edge labelled as off
 * the scale. Bars are placed in percent, so the figure scales with its box. */
function drawWaterfall(timings, deadline)
{
    const fig = $('#waterfall');
    const rows = $('.wf-rows', fig);
    rows.replaceChildren();
    const calls = Object.entries(timings || {})
                      .filter(([, t ]) => typeof t.ms === 'number' &&
                                          typeof t.start_ms === 'number')
                      .sort((a, b) => a[1].start_ms - b[1].start_ms);
    let last = 0;
    for (const [, t] of calls)
        last = Math.max(last, t.start_ms + t.ms);
    const hasDeadline = typeof deadline === 'number' && deadline > 0;
    const                      onScale = hasDeadline && deadline <= 4 * last;
    const end = Math.max(onScale ? Math.max(deadline, last) : last * 1.1, 1);
    const pct = (v) => `${Math.min(100, Math.max(0, (v / end) * 100)).toFixed(3)}%`;
    for (const [service, t] of calls) {
        const row = document.createElement('div');
        row.className = 'wf-row';
        const label = document.createElement('span');
        label.className = 'wf-label';
        label.textContent = service;
        const track = document.createElement('div');
        track.className = 'wf-track';
        const bar = document.createElement('span');
        bar.className = 'wf-bar' + (t.error ? ' failed' : '');
        bar.dataset.service = service;
        bar.dataset.start = String(t.start_ms);
        bar.dataset.ms = String(t.ms);
        bar.style.left = pct(t.start_ms);
        bar.style.width = pct(t.ms);
        bar.title = `${service}: starts at ${t.start_ms.toFixed(1)} ms, takes ${
                        t.ms.toFixed(1)} ms` +
                    (t.error ? ` (${t.error})` : '');
        track.appendChild(bar);
        row.append(label, track);
        rows.appendChild(row);
    }
    const mark = $('.wf-deadline', fig);
    if (hasDeadline) {
        // across the tracks: past the label column (80px) and the padding (10px)
        const at = onScale ? deadline / end : 1;
        mark.style.left = `calc(10px + 80px + (100% - 20px - 80px) * ${at.toFixed(5)})`;
        mark.dataset.ms = String(deadline);
        mark.dataset.label =
            onScale ? `deadline ${deadline} ms` : `deadline ${deadline} ms ›`;
        mark.classList.toggle('off-scale', !onScale);
        mark.title = onScale ? `deadline: ${deadline} ms`
                             : `deadline: ${deadline} ms, off the scale to the right`;
        mark.hidden = false;
    } else {
        mark.hidden = true;
    }
    fill(fig, {end : `${end < 10 ? end.toFixed(1) : Math.round(end)} ms`});
}

/* The order's live status ---------------------------------------------------
 * GET /orders/{id}/events through bff-web to the orders service: the current
 * status, then one `status` event per change, `: ping` comments in between,
 * and the end after a final status (docs/streaming.md). EventSource cannot
 * send the Authorization header, so the stream is read with fetch() and a
 * ReadableStream reader and parsed here as the HTML standard parses
 * text/event-stream. A stream that ends before a final status, or fails, is
 * opened again after a backoff (1 s, doubling up to 30 s, with jitter; back
 * to 1 s once a stream delivered something) with Last-Event-ID, so that no
 * change is missed; 204 (caught up with a final status) and 401/403/404 end
 * it for good. Opening another order stops the one before. */

const FINAL_STATUSES = new Set(['delivered', 'cancelled']);
const LIVE_BACKOFF_MS = [1000, 30000]; // first, most

const live = { order: null, ctrl: null, timer: null, lastId: null, failures: 0 };

function setLive(state, text, title) {
  const el = $('#live');
  el.dataset.state = state; // off | connecting | live | reconnecting | ended | unavailable
  el.textContent = text;
  el.title = title || '';
  el.hidden = state === 'off';
}

/* A text/event-stream parser: push() decoded text as it comes; @onEvent gets
 * {type, data, lastEventId} for each dispatched event. Lines end in CRLF, LF
 * or CR; a line starting with ':' is a comment; "data" lines are joined with
 * LF; "id" without NUL sets the last event id; "retry" is handed to
 * @onRetry. */
function sseParser(onEvent, onRetry) {
  let buf = '';
  let type = '';
  let data = [];
  let lastId = null;
  function line(l) {
    if (l === '') {
      if (data.length > 0)
        onEvent({ type: type || 'message', data: data.join('\n'), lastEventId: lastId });
      type = '';
      data = [];
      return;
    }
    if (l[0] === ':') return; // a comment (": ping")
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value) && onRetry) onRetry(Number(value));
  }
  return {
    push(text) {
      buf += text;
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        // a CR at the very end may be the first half of a CRLF: wait for more
        if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
        line(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
      }
    },
  };
}

function stopLive() {
  if (live.ctrl) live.ctrl.abort();
  clearTimeout(live.timer);
  Object.assign(live, { order: null, ctrl: null, timer: null, lastId: null, failures: 0 });
  setLive('off', '');
}

function startLive(id) {
  stopLive();
  live.order = id;
  connectLive(id);
}

/* One event of the stream: a status change of the order on screen. */
function liveEvent(id, ev) {
  if (ev.type !== 'status') return false;
  let d;
  try {
    d = JSON.parse(ev.data);
  } catch (e) {
    return false;
  }
  if (!d || d.id !== id || typeof d.status !== 'string') return false;
  const el = $('#order [data-field=status]');
  el.textContent = d.status;
  el.dataset.at = d.at || '';
  el.title = d.at ? `since ${d.at}` : '';
  return FINAL_STATUSES.has(d.status);
}

async function connectLive(id) {
  const ctrl = new AbortController();
  live.ctrl = ctrl;
  live.timer = null;
  let final = false;
  let fatal = '';
  let why = '';
  let got = false;
  setLive(live.failures ? 'reconnecting' : 'connecting',
          live.failures ? 'reconnecting…' : 'connecting…');
  try {
    const headers = { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' };
    if (live.lastId) headers['Last-Event-ID'] = live.lastId;
    const res = await fetch('/orders/' + encodeURIComponent(id) + '/events',
                            { headers, signal: ctrl.signal, cache: 'no-store' });
    if (res.status === 204) {
      final = true;
    } else if ([401, 403, 404].includes(res.status)) {
      fatal = `HTTP ${res.status}`;
    } else if (!res.ok || !res.body ||
               !/^text\/event-stream\b/.test(res.headers.get('Content-Type') || '')) {
      why = `HTTP ${res.status}`;
    } else {
      setLive('live', 'live', 'status changes arrive as they happen');
      const parser = sseParser((ev) => {
        got = true;
        if (ev.lastEventId !== null) live.lastId = ev.lastEventId;
        if (liveEvent(id, ev)) final = true;
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        got = true; // a ping counts: the stream works
        parser.push(value);
      }
      why = 'the stream ended';
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
    why = e.message || String(e);
  }
  if (live.ctrl !== ctrl) return; // another order meanwhile
  live.ctrl = null;
  if (final) {
    setLive('ended', 'final', 'a final status: no more changes');
    return;
  }
  if (fatal) {
    setLive('unavailable', 'not live', `no live status (${fatal})`);
    return;
  }
  live.failures = got ? 1 : live.failures + 1;
  const base = Math.min(LIVE_BACKOFF_MS[1], LIVE_BACKOFF_MS[0] * 2 ** (live.failures - 1));
  const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
  setLive('reconnecting', 'reconnecting…', `${why}; again in ${(delay / 1000).toFixed(1)} s`);
  live.timer = setTimeout(() => connectLive(id), delay);
}

async function openOrder(id) {
  stopLive();
  showError('');
  setStatus(`Loading order ${id}…`);
  $('#open').disabled = true;
  try {
    const d = await api('/api/orders/' + encodeURIComponent(id));
    const o = d.order;
    fill($('#order'), { id: o.id, status: o.status, created_at: o.created_at,
                        total: money(o.total_cents, o.currency) });
    fill($('#customer'), d.customer);
    $('#customer').classList.toggle('missing', !d.customer);
    lastCustomer = d.customer ? d.customer.id : o.user_id;
    drawItems(d.items);
    drawTimings(d.meta && d.meta.timings);
    drawWaterfall(d.meta && d.meta.timings, d.meta && d.meta.deadline_ms);
    showMissing(d.partial, d.meta && d.meta.timings);
    $('#result').hidden = false;
    $('#result').dataset.order = o.id;
    setStatus(`Order ${o.id} loaded.`);
    startLive(o.id);
  } catch (e) {
    stopLive();
    $('#result').hidden = true;
    showMissing([]);
    showError(e.message);
    setStatus('');
  } finally {
    $('#open').disabled = false;
  }
}

async function loadHistory(first) {
  if (!lastCustomer) return;
  showError('');
  let path = `/api/customers/${encodeURIComponent(lastCustomer)}/orders?limit=5`;
  if (!first && nextCursor) path += '&cursor=' + encodeURIComponent(nextCursor);
  try {
    const d = await api(path);
    const tbody = $('#history-list tbody');
    if (first) tbody.replaceChildren();
    fill($('#history'), { who: d.customer ? d.customer.name : lastCustomer });
    for (const o of d.orders) {
      const tr = document.createElement('tr');
      const td = cell(tr, '');
      const a = document.createElement('a');
      a.href = '#' + o.id;
      a.textContent = o.id;
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        $('#order-id').value = o.id;
        openOrder(o.id);
      });
      td.appendChild(a);
      cell(tr, o.status);
      cell(tr, o.created_at);
      cell(tr, money(o.total_cents, o.currency), 'num');
      tbody.appendChild(tr);
    }
    nextCursor = d.next_cursor;
    $('#history-next').hidden = !nextCursor;
    $('#history').hidden = false;
  } catch (e) {
    showError(e.message);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const saved = sessionStorage.getItem('portico.token');
  if (saved) $('#token').value = saved;
  $('#lookup').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('portico.token', token());
    openOrder($('#order-id').value.trim());
  });
  $('#more-orders').addEventListener('click', () => loadHistory(true));
  $('#history-next').addEventListener('click', () => loadHistory(false));
});
