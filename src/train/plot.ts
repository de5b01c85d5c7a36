/**
 * Loss curves as a PNG, with no dependencies: a small raster (lines, axes, a 3x5 digit font for
 * the tick labels) encoded with node:zlib. Train loss is blue, validation loss orange.
 */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes RGB pixels [H, W, 3] as a PNG file. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

// 3x5 glyphs for tick labels, one row per 3 bits.
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2],
  '-': [0, 0, 7, 0, 0],
};

class Canvas {
  readonly px: Uint8Array;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[], thick = 1): void {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx, y + dy, c);
    }
  }
  text(x: number, y: number, s: string, c: readonly number[], scale = 2): void {
    for (const ch of s) {
      const g = GLYPHS[ch];
      if (g) {
        g.forEach((row, r) => {
          for (let b = 0; b < 3; b++) {
            if (row & (4 >> b))
              for (let i = 0; i < scale; i++)
                for (let j = 0; j < scale; j++) this.set(x + b * scale + i, y + r * scale + j, c);
          }
        });
      }
      x += 4 * scale;
    }
  }
}

export interface Series {
  points: [number, number][];
  color: readonly number[];
}

export const BLUE = [31, 119, 180] as const;
export const ORANGE = [255, 127, 14] as const;

/** Draws the series on shared axes (x: step, y: loss) and returns PNG bytes. */
export function plotSeries(series: Series[], width = 800, height = 480): Buffer {
  const c = new Canvas(width, height);
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) throw new Error('plot: no finite points to draw');
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const L = 70;
  const R = 20;
  const T = 20;
  const B = 40;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (width - L - R);
  const py = (y: number) => height - B - ((y - y0) / (y1 - y0)) * (height - T - B);
  const grey = [200, 200, 200];
  const black = [0, 0, 0];
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    c.line(L, py(y), width - R, py(y), grey);
    c.text(4, py(y) - 5, y.toFixed(2), black);
    const x = x0 + ((x1 - x0) * i) / 5;
    c.text(px(x) - 10, height - B + 8, String(Math.round(x)), black);
  }
  c.line(L, T, L, height - B, black);
  c.line(L, height - B, width - R, height - B, black);
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    for (let i = 1; i < pts.length; i++)
      c.line(px(pts[i - 1][0]), py(pts[i - 1][1]), px(pts[i][0]), py(pts[i][1]), s.color, 2);
    if (pts.length === 1)
      c.line(px(pts[0][0]) - 2, py(pts[0][1]), px(pts[0][0]) + 2, py(pts[0][1]), s.color, 3);
  }
  return encodePng(c.px, width, height);
}
