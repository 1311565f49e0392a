// routes.js — the routing table page: GET /routes, one row per hostname and base path.
import { api, el } from './api.js';

export async function loadRoutes() {
  const data = await api('/routes');
  document.getElementById('routes-version').textContent =
    `Snapshot version ${data.version}${data.appliedAt ? `, applied ${data.appliedAt}` : ''} · ${data.routes.length} route(s)`;
  const body = document.querySelector('#routes-table tbody');
  body.replaceChildren(...data.routes.map((r) => {
    const tr = el('tr');
    tr.append(el('td', r.host), el('td', r.group), el('td', r.environment), el('td', r.basePath),
      el('td', r.proxy), el('td', (r.endpoints || []).join(', ') || 'none'), el('td', r.websocket ? 'yes' : 'no'),
      el('td', (r.policies || []).join(', ') || '-'));
    return tr;
  }));
  return data;
}
