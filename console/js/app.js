// app.js — the console's shell: pages by URL fragment (#routes, #sessions, #debug), the admin token form, and
// the one-second refresh of the page on screen. Errors go to the status line (aria-live), never to alerts.
import { setToken, token } from './api.js';
import { loadRoutes } from './routes.js';
import { loadSessions, sampleMetrics } from './sessions.js';
import { fillTargets, pollDebug, startDebug, stopDebug } from './debug.js';

const PAGES = ['routes', 'sessions', 'debug'];
let page = 'routes';

function status(text) { document.getElementById('status').textContent = text || ''; }

async function guarded(fn) {
  try { await fn(); status(''); } catch (e) { status(e.message); }
}

function show(name) {
  page = PAGES.includes(name) ? name : 'routes';
  for (const p of PAGES) document.getElementById(`page-${p}`).hidden = p !== page;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  tick();
}

async function tick() {
  if (page === 'routes') await guarded(loadRoutes);
  if (page === 'sessions') await guarded(async () => { await loadSessions(); await sampleMetrics(); });
  if (page === 'debug') await guarded(async () => { fillTargets(await loadRoutes()); await pollDebug(); });
}

function init() {
  const input = document.getElementById('token');
  input.placeholder = token() ? 'set for this tab' : 'not set';
  document.getElementById('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    input.value = '';
    input.placeholder = token() ? 'set for this tab' : 'not set';
    tick();
  });
  document.getElementById('debug-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guarded(() => startDebug(ev.target));
  });
  document.getElementById('debug-stop').addEventListener('click', () => guarded(stopDebug));
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
  // the charts keep sampling while another page is shown, so they are full when one comes back
  setInterval(() => {
    if (page !== 'sessions') guarded(sampleMetrics);
    tick();
  }, 1000);
}

init();
