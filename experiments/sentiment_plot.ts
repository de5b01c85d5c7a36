/**
 * The reward-vs-KL frontier as an SVG scatter plot (DPO paper, Figure 2 left): one series per
 * method, points connected in the order given (beta sweep, or PPO checkpoints in time), axes with
 * ticks, a legend. Plain SVG text: no dependency, opens in any browser.
 */

export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number; label?: string }[];
  /** Connect the points with a line (default true). */
  line?: boolean;
}

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function scatterSvg(
  series: readonly Series[],
  o: { title: string; xLabel: string; yLabel: string },
): string {
  const W = 780;
  const H = 480;
  const m = { l: 70, r: 200, t: 40, b: 60 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const pad = (lo: number, hi: number) => {
    const d = (hi - lo || 1) * 0.1;
    return [lo - d, hi + d];
  };
  const [x0, x1] = pad(Math.min(0, ...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(
      `<line x1="${X(t)}" y1="${m.t}" x2="${X(t)}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${X(t)}" y="${H - m.b + 16}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${m.l}" y1="${Y(t)}" x2="${W - m.r}" y2="${Y(t)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${t}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 18}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    if (s.line !== false && s.points.length > 1) {
      const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5" opacity="0.6"/>`);
    }
    for (const p of s.points) {
      parts.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="4" fill="${s.color}"/>`);
      if (p.label)
        parts.push(
          `<text x="${(X(p.x) + 6).toFixed(1)}" y="${(Y(p.y) - 6).toFixed(1)}" font-size="10" fill="${s.color}">${esc(p.label)}</text>`,
        );
    }
    const ly = m.t + 10 + i * 20;
    parts.push(
      `<circle cx="${W - m.r + 60}" cy="${ly}" r="5" fill="${s.color}"/>`,
      `<text x="${W - m.r + 72}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
