// sessions.js — the live page: GET /sessions every second (new sessions appear highlighted, closed ones leave)
// and three charts from GET /metrics: active sessions, messages/s and handshakes/s (completed WebSocket
// upgrades) over the last five minutes.
import { api, el, fmtBytes, fmtDuration, parseMetrics } from './api.js';
import { LineChart } from './charts.js';

const charts = {};
let last = null; // previous metrics sample {t, messages, sessions}
let known = new Set();

function chartsInit() {
  if (charts.active) return;
  charts.active = new LineChart(document.getElementById('chart-active'), { label: 'Active sessions' });
  charts.messages = new LineChart(document.getElementById('chart-messages'), { label: 'Messages per second', color: '#137333', decimals: 1 });
  charts.handshakes = new LineChart(document.getElementById('chart-handshakes'), { label: 'Handshakes per second', color: '#a15c00', decimals: 1 });
}

export async function sampleMetrics() {
  chartsInit();
  const m = parseMetrics(await api('/metrics'));
  const t = Date.now();
  const sample = { t, messages: m.get('tollgate_websocket_messages_total') || 0,
    sessions: m.get('tollgate_websocket_sessions_total') || 0 };
  charts.active.push(t, m.get('tollgate_websocket_sessions_active') || 0);
  if (last) {
    const dt = Math.max(0.001, (t - last.t) / 1000);
    charts.messages.push(t, Math.max(0, sample.messages - last.messages) / dt);
    charts.handshakes.push(t, Math.max(0, sample.sessions - last.sessions) / dt);
  }
  last = sample;
}

export async function loadSessions() {
  const data = await api('/sessions');
  const list = data.sessions || [];
  const body = document.querySelector('#sessions-table tbody');
  const now = Date.now();
  const seen = new Set();
  body.replaceChildren(...list.map((s) => {
    seen.add(s.id);
    const tr = el('tr', null, { 'data-session': s.id });
    if (!known.has(s.id)) tr.className = 'fresh';
    const m = s.messages || {}, b = s.bytes || {};
    tr.append(el('td', s.id), el('td', s.proxy), el('td', s.environment), el('td', s.client),
      el('td', fmtDuration(now - Date.parse(s.startedAt))),
      el('td', `${m.clientToBackend ?? 0} / ${m.backendToClient ?? 0}`),
      el('td', `${fmtBytes(b.clientToBackend ?? 0)} / ${fmtBytes(b.backendToClient ?? 0)}`), el('td', s.endpoint || '-'));
    return tr;
  }));
  known = seen;
  document.getElementById('sessions-count').textContent =
    list.length === 0 ? 'No live WebSocket sessions' : `${list.length} live session${list.length === 1 ? '' : 's'}`;
}
