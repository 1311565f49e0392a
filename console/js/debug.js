// debug.js — the debug page: start a debug session for a proxy in an environment (POST /debug/sessions), list
// its transactions live (GET /debug/sessions/{id} every second), open one: request line and headers, policies
// with their results and times, endpoint and status; for a WebSocket its 101 record, then its close (duration,
// messages and bytes each way, close code, side). Stop ends it (DELETE).
import { api, el, fmtBytes, fmtDuration, ApiError } from './api.js';

let current = null;   // debug session id
let txs = [];
let selected = -1;

export function fillTargets(routes) {
  const sel = document.getElementById('debug-target');
  const seen = new Set();
  const opts = [];
  for (const r of routes.routes || []) {
    const key = `${r.proxy}|${r.environment}`;
    if (seen.has(key)) continue;
    seen.add(key);
    opts.push(el('option', `${r.proxy} in ${r.environment}`, { value: key }));
  }
  const keep = sel.value;
  sel.replaceChildren(...opts);
  if (keep && seen.has(keep)) sel.value = keep;
}

export async function startDebug(form) {
  const [proxy, environment] = form.target.value.split('|');
  const body = { proxy, environment, durationSeconds: Number(form.duration.value) || 600,
    maxTransactions: Number(form.max.value) || 20 };
  let created;
  try {
    created = await api('/debug/sessions', { method: 'POST', body });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405))
      throw new ApiError(e.status, 'debug sessions are not available in this data plane build');
    throw e;
  }
  current = created.id;
  txs = [];
  selected = -1;
  document.getElementById('debug-current').textContent = `Debug session ${current}: ${proxy} in ${environment}`;
  document.getElementById('debug-stop').hidden = false;
  renderList();
  renderDetail();
  return current;
}

export async function stopDebug() {
  if (!current) return;
  await api(`/debug/sessions/${encodeURIComponent(current)}`, { method: 'DELETE' });
  document.getElementById('debug-current').textContent = `Debug session ${current} stopped`;
  document.getElementById('debug-stop').hidden = true;
  current = null;
}

export async function pollDebug() {
  if (!current) return;
  let data;
  try {
    data = await api(`/debug/sessions/${encodeURIComponent(current)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      document.getElementById('debug-current').textContent = `Debug session ${current} ended`;
      document.getElementById('debug-stop').hidden = true;
      current = null;
      return;
    }
    throw e;
  }
  const next = data.transactions || [];
  if (JSON.stringify(next) !== JSON.stringify(txs)) {
    txs = next;
    renderList();
    renderDetail();
  }
}

function wsClosed(tx) {
  const ws = tx.websocket;
  return !!ws && ((ws.closedBy !== undefined && ws.closedBy !== null) || (ws.closeCode !== undefined && ws.closeCode !== null));
}

function wsPill(tx) {
  if (tx.status !== 101) return el('span', '-');
  return wsClosed(tx) ? el('span', `closed ${tx.websocket.closeCode} by ${tx.websocket.closedBy}`, { class: 'pill closed' })
    : el('span', 'open', { class: 'pill open' });
}

function renderList() {
  const body = document.querySelector('#tx-table tbody');
  body.replaceChildren(...txs.map((tx, i) => {
    const tr = el('tr', null, { tabindex: '0', 'data-index': String(i), 'aria-selected': String(i === selected) });
    const req = tx.request || {};
    const ws = el('td');
    ws.append(wsPill(tx));
    tr.append(el('td', i + 1), el('td', `${req.method || ''} ${req.path || ''}`), el('td', tx.status), ws);
    const open = () => { selected = i; renderList(); renderDetail(); document.getElementById('tx-detail').focus(); };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); }
      if (ev.key === 'ArrowDown' && tr.nextElementSibling) { ev.preventDefault(); tr.nextElementSibling.focus(); }
      if (ev.key === 'ArrowUp' && tr.previousElementSibling) { ev.preventDefault(); tr.previousElementSibling.focus(); }
    });
    return tr;
  }));
}

function dl(pairs) {
  const d = el('dl');
  for (const [k, v] of pairs) d.append(el('dt', k), el('dd', v));
  return d;
}

function renderDetail() {
  const box = document.getElementById('tx-detail');
  const tx = txs[selected];
  if (!tx) {
    box.replaceChildren(el('p', 'Choose a transaction to see its request, policies and WebSocket record.', { class: 'meta' }));
    return;
  }
  const req = tx.request || {};
  const parts = [el('h3', `#${selected + 1} ${req.method || ''} ${req.path || ''} → ${tx.status}`)];
  parts.push(dl([['Status', tx.status], ['Endpoint', tx.endpoint || '-'],
    ['Time', tx.time || tx.startedAt || '-']]));
  parts.push(el('h4', 'Request headers'));
  const headers = req.headers || {};
  const entries = Array.isArray(headers) ? headers.map((h) => Array.isArray(h) ? h : [h.name, h.value]) : Object.entries(headers);
  parts.push(dl(entries.map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v])));
  parts.push(el('h4', 'Policies'));
  const pt = el('table', null, { class: 'grid' });
  const head = el('tr');
  head.append(el('th', 'Policy', { scope: 'col' }), el('th', 'Result', { scope: 'col' }), el('th', 'Time', { scope: 'col' }));
  pt.append(el('thead'), el('tbody'));
  pt.tHead.append(head);
  for (const p of tx.policies || []) {
    const tr = el('tr');
    tr.append(el('td', p.name), el('td', p.reason ? `${p.result} (${p.reason})` : p.result), el('td', `${p.micros} µs`));
    pt.tBodies[0].append(tr);
  }
  if (!(tx.policies || []).length) {
    const none = el('tr');
    none.append(el('td', 'no policies', { colspan: '3' }));
    pt.tBodies[0].append(none);
  }
  parts.push(pt);
  if (tx.status === 101) {
    const ws = tx.websocket || {};
    parts.push(el('h4', 'WebSocket'));
    if (!wsClosed(tx)) {
      parts.push(el('p', '101 Switching Protocols — the session is open; its record completes when it closes.'));
    } else {
      const m = ws.messages || {}, b = ws.bytes || {};
      parts.push(dl([['Closed by', ws.closedBy], ['Close code', ws.closeCode], ['Duration', fmtDuration(ws.durationMs)],
        ['Messages client → backend', m.clientToBackend], ['Messages backend → client', m.backendToClient],
        ['Bytes client → backend', fmtBytes(b.clientToBackend ?? 0)], ['Bytes backend → client', fmtBytes(b.backendToClient ?? 0)]]));
    }
  }
  box.replaceChildren(...parts);
}
