// console_browser.js — headless Chromium (Debian's chromium, driven by playwright-core) against the data plane's
// web console and the demo chat page; one scenario per run, given as a JSON argument; prints one JSON line with
// what it saw and exits 0, or prints {"error": ...} and exits 1. Run with NODE_PATH=tests/node/node_modules.
// Hostnames *.test resolve to 127.0.0.1 inside the browser (--host-resolver-rules), so pages reach the gateway
// under the Host its routes expect.
//
//   {"scenario":"console", "admin":"http://127.0.0.1:P", "gateway":"ws://main.test:P", "wsPath":"/echo/x",
//    "proxy":"ns/name", "environment":"prod", "debug":bool, "images":"docs/images"}
//   {"scenario":"chat", "page":"http://main.test:P/chat/", "images":"docs/images"}
//   {"scenario":"debug", "admin", "proxy", "environment", "images"}   (the debug page's flow alone)
'use strict';

const { chromium } = require('playwright-core');

const spec = JSON.parse(process.argv[2]);
const out = { scenario: spec.scenario, steps: [] };
const step = (s) => out.steps.push(s);

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--host-resolver-rules=MAP *.test 127.0.0.1', '--disable-gpu'],
  });
}

function watchErrors(page, list) {
  page.on('console', (m) => { if (m.type() === 'error') list.push(`console: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => list.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => list.push(`requestfailed: ${r.url()} ${r.failure() && r.failure().errorText}`));
}

// A WebSocket opened by a page of the same browser (one loaded from the gateway: Chromium refuses sockets from
// about:blank here), driven from here.
async function openSocket(ctx, url) {
  const p = await ctx.newPage();
  await p.goto(url.replace(/^ws/, 'http'));
  await p.evaluate((u) => new Promise((resolve, reject) => {
    window.sock = new WebSocket(u);
    window.got = [];
    window.sock.onmessage = (ev) => window.got.push(String(ev.data));
    window.sock.onopen = () => resolve();
    window.sock.onerror = () => reject(new Error('websocket failed'));
  }), url);
  return {
    async exchange(texts) {
      await p.evaluate((ts) => new Promise((resolve) => {
        const want = window.got.length + ts.length;
        for (const t of ts) window.sock.send(t);
        const check = () => (window.got.length >= want ? resolve() : setTimeout(check, 20));
        check();
      }), texts);
    },
    async close(code) {
      await p.evaluate((c) => new Promise((resolve) => { window.sock.onclose = () => resolve(); window.sock.close(c); }), code);
      await p.close();
    },
  };
}

async function consoleScenario() {
  const browser = await launch();
  const errors = (out.errors = []); // kept in out so that a failed step reports them too
  try {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const page = await ctx.newPage();
    watchErrors(page, errors);
    await page.goto(`${spec.admin}/console/`);
    // routes
    await page.waitForSelector(`#routes-table tbody tr >> text=${spec.proxy}`, { timeout: 10000 });
    out.routes = await page.$$eval('#routes-table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.routesVersion = await page.textContent('#routes-version');
    await page.screenshot({ path: `${spec.images}/console-routes.png`, fullPage: true });
    step('routes');

    // keyboard: from the top of the page, Tab reaches the "Live sessions" link and Enter opens it
    await page.focus('body');
    let reached = false;
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement && document.activeElement.dataset && document.activeElement.dataset.page === 'sessions');
    }
    if (!reached) throw new Error('Tab never reached the Live sessions link');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#sessions' && !document.getElementById('page-sessions').hidden);
    out.labels = await page.$$eval('input, select', (els) => els.map((e) => (e.labels && e.labels.length ? e.labels[0].textContent : null)));
    step('keyboard');

    // live sessions: one appears, its counts move, it leaves
    await page.waitForFunction(() => document.getElementById('sessions-count').textContent === 'No live WebSocket sessions');
    const sock = await openSocket(ctx, `${spec.gateway}${spec.wsPath}`);
    await sock.exchange(['one', 'two', 'three']);
    await page.waitForSelector(`#sessions-table tbody tr >> text=${spec.proxy}`, { timeout: 10000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#sessions-table tbody td')].some((td) => td.textContent === '3 / 3'), null, { timeout: 10000 });
    // let the charts gather a few seconds of samples with traffic in them
    for (let i = 0; i < 4; i++) { await sock.exchange([`tick ${i}`]); await page.waitForTimeout(700); }
    out.sessionRow = await page.$$eval('#sessions-table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.charts = await page.$$eval('canvas', (cs) => cs.map((c) => c.getAttribute('aria-label')));
    await page.screenshot({ path: `${spec.images}/console-sessions.png`, fullPage: true });
    await sock.close(1000);
    await page.waitForFunction(() => document.querySelectorAll('#sessions-table tbody tr').length === 0, null, { timeout: 10000 });
    out.sessionsAfterClose = await page.textContent('#sessions-count');
    step('sessions');

    // debug page
    await page.click('nav a[data-page="debug"]');
    await page.waitForFunction(() => document.querySelectorAll('#debug-target option').length > 0);
    if (spec.debug) {
      await page.selectOption('#debug-target', `${spec.proxy}|${spec.environment}`);
      await page.click('#debug-form button[type=submit]');
      await page.waitForFunction(() => /^Debug session \S+:/.test(document.getElementById('debug-current').textContent));
      const s2 = await openSocket(ctx, `${spec.gateway}${spec.wsPath}`);
      await s2.exchange(['a', 'b']);
      await page.waitForSelector('#tx-table tbody tr >> text=open', { timeout: 10000 });
      // the socket's own page load from the gateway is a transaction too (200): open the WebSocket's 101 row
      await page.focus('#tx-table tbody tr:has-text("open")');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#tx-detail >> text=101 Switching Protocols');
      out.openDetail = await page.textContent('#tx-detail');
      await page.screenshot({ path: `${spec.images}/console-debug-open.png`, fullPage: true });
      await s2.close(1000);
      await page.waitForSelector('#tx-table tbody tr >> text=closed 1000 by client', { timeout: 10000 });
      await page.waitForSelector('#tx-detail >> text=Closed by');
      out.closedDetail = await page.$$eval('#tx-detail dl:last-of-type dt, #tx-detail dl:last-of-type dd', (els) => els.map((e) => e.textContent));
      await page.screenshot({ path: `${spec.images}/console-debug-closed.png`, fullPage: true });
      await page.click('#debug-stop');
      step('debug');
    } else {
      await page.screenshot({ path: `${spec.images}/console-debug-page.png`, fullPage: true });
      step('debug-skipped');
    }

    // the admin token: entered once, kept in this tab's sessionStorage, not in the field
    await page.fill('#token', 'console-test-token');
    await page.press('#token', 'Enter');
    out.tokenStored = await page.evaluate(() => sessionStorage.getItem('tollgate.adminToken'));
    out.tokenField = await page.inputValue('#token');
    step('token');
    await page.waitForTimeout(1200); // one more refresh round with the token, still without errors
  } finally {
    await browser.close();
  }
  out.errors = errors;
}

// The debug page alone, against an admin API whose debug session records one WebSocket transaction by itself
// (open, then closed): the page's side of the flow.
async function debugScenario() {
  const browser = await launch();
  const errors = (out.errors = []); // kept in out so that a failed step reports them too
  try {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const page = await ctx.newPage();
    watchErrors(page, errors);
    await page.goto(`${spec.admin}/console/#debug`);
    await page.waitForFunction(() => document.querySelectorAll('#debug-target option').length > 0);
    await page.selectOption('#debug-target', `${spec.proxy}|${spec.environment}`);
    await page.fill('#debug-max', '5');
    await page.click('#debug-form button[type=submit]');
    await page.waitForSelector('#tx-table tbody tr >> text=open', { timeout: 10000 });
    await page.focus('#tx-table tbody tr');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#tx-detail >> text=101 Switching Protocols');
    out.openDetail = await page.textContent('#tx-detail');
    await page.screenshot({ path: `${spec.images}/debug-open.png`, fullPage: true });
    await page.waitForSelector('#tx-table tbody tr >> text=closed 1000 by client', { timeout: 10000 });
    await page.waitForSelector('#tx-detail >> text=Closed by');
    out.closedDetail = await page.$$eval('#tx-detail dl:last-of-type dt, #tx-detail dl:last-of-type dd', (els) => els.map((e) => e.textContent));
    out.policies = await page.$$eval('#tx-detail table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    await page.screenshot({ path: `${spec.images}/debug-closed.png`, fullPage: true });
    await page.click('#debug-stop');
    await page.waitForFunction(() => / stopped$/.test(document.getElementById('debug-current').textContent));
    step('debug');
  } finally {
    await browser.close();
  }
  out.errors = errors;
}

async function chatScenario() {
  const browser = await launch();
  const errors = (out.errors = []); // kept in out so that a failed step reports them too
  try {
    const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
    const a = await ctx.newPage(), b = await ctx.newPage();
    watchErrors(a, errors);
    watchErrors(b, errors);
    await a.goto(spec.page);
    await a.waitForFunction(() => document.getElementById('status').textContent === 'connected');
    await b.goto(spec.page);
    await b.waitForFunction(() => document.getElementById('status').textContent === 'connected');
    step('connected');
    await a.fill('#msg', 'hello from page A');
    await a.press('#msg', 'Enter');
    await b.waitForSelector('#log >> text=hello from page A', { timeout: 5000 });
    await b.fill('#msg', 'and hello back from B');
    await b.press('#msg', 'Enter');
    await a.waitForSelector('#log >> text=and hello back from B', { timeout: 5000 });
    out.logA = await a.$$eval('#log div', (ds) => ds.map((d) => d.textContent));
    await a.screenshot({ path: `${spec.images}/demo-chat.png` });
    step('chatted');
    // the proxy ends the session (the chat proxy's maxLifetime): the page says so
    await a.waitForSelector('#log >> text=/connection closed \\(1001/', { timeout: 20000 });
    out.closedLineA = await a.$$eval('#log div', (ds) => ds.map((d) => d.textContent).filter((t) => t.includes('connection closed')));
    out.statusAfter = await a.textContent('#status');
    await a.screenshot({ path: `${spec.images}/demo-chat-closed.png` });
    step('closed-by-proxy');
  } finally {
    await browser.close();
  }
  // the demo page links no icon, so Chromium's own /favicon.ico request gets the backend's 404: not the page's
  out.errors = errors.filter((e) => !e.includes('/favicon.ico'));
}

(async () => {
  try {
    if (spec.scenario === 'console') await consoleScenario();
    else if (spec.scenario === 'chat') await chatScenario();
    else if (spec.scenario === 'debug') await debugScenario();
    else throw new Error(`unknown scenario ${spec.scenario}`);
    console.log(JSON.stringify(out));
  } catch (e) {
    out.error = String(e && e.stack ? e.stack : e);
    console.log(JSON.stringify(out));
    process.exit(1);
  }
})();
