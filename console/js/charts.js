// charts.js — small line charts on a canvas (our own code): a rolling series of [time, value] points, the last
// few minutes, with the y axis scaled to the maximum and labelled, and the current value in the canvas's
// accessible label.
export class LineChart {
  constructor(canvas, { label, windowSeconds = 300, color = '#0b5cad', decimals = 0 }) {
    this.canvas = canvas;
    this.label = label;
    this.windowMs = windowSeconds * 1000;
    this.color = color;
    this.decimals = decimals;
    this.points = [];
  }

  push(t, v) {
    this.points.push([t, v]);
    const cut = t - this.windowMs;
    while (this.points.length && this.points[0][0] < cut) this.points.shift();
    this.draw(t);
  }

  draw(now) {
    const c = this.canvas, g = c.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || c.width, h = c.clientHeight || c.height;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 40, right = 8, top = 8, bottom = 20;
    const max = Math.max(1, ...this.points.map((p) => p[1]));
    const ymax = this.decimals ? niceCeil(max) : Math.max(2, niceCeil(max)); // whole numbers: a mid line that is one
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#5b6672';
    g.strokeStyle = '#d5dbe1';
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = top + (h - top - bottom) * (1 - i / 2);
      g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
      g.fillText(fmt(ymax * i / 2, this.decimals), 4, y + 4);
    }
    g.fillText(`-${Math.round(this.windowMs / 60000)} min`, left, h - 5);
    g.fillText('now', w - right - 22, h - 5);
    if (this.points.length) {
      g.strokeStyle = this.color;
      g.lineWidth = 2;
      g.beginPath();
      this.points.forEach(([t, v], i) => {
        const x = left + (w - left - right) * (1 - (now - t) / this.windowMs);
        const y = top + (h - top - bottom) * (1 - v / ymax);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
      const last = this.points[this.points.length - 1][1];
      c.setAttribute('aria-label', `${this.label}: ${fmt(last, this.decimals)} now, at most ${fmt(max, this.decimals)} over the last ${Math.round(this.windowMs / 60000)} minutes`);
    }
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v, decimals) { return decimals ? v.toFixed(decimals) : String(Math.round(v)); }
