/**
 * Reading PNG screenshots in tests, with node:zlib only: decodePng (8-bit greyscale, RGB, RGBA,
 * grey+alpha; not interlaced, not palette) and colour statistics to tell a drawn image from a
 * blank one (assertNotBlank). Also the Chromium the browser tests launch and its flags.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

/** The Chromium of the browser tests: /usr/bin/chromium, or XFMR_CHROMIUM=PATH to try another. */
export const CHROMIUM = process.env.XFMR_CHROMIUM || '/usr/bin/chromium';

/**
 * The skip reason of a browser suite: false when Chromium is there; a message when it is not, and
 * a thrown error under CI, which must install it (.ci/run).
 */
export function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI must install Chromium (see .ci/run) for the browser tests`);
  return `${CHROMIUM} is not installed: browser tests skipped (apt-get install chromium)`;
}

/** Flags for headless Chromium in a container (no sandbox, no GPU, no small /dev/shm). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
];

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes a pixel, row-major. */
  rgba: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Decodes a PNG file into RGBA pixels. */
export function decodePng(png: Uint8Array): Image {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!SIGNATURE.every((b, i) => buf[i] === b)) throw new Error('decodePng: not a PNG file');
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('ascii', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      colorType = data[9];
      if (depth !== 8) throw new Error(`decodePng: bit depth ${depth} is not handled (only 8)`);
      if (data[12] !== 0) throw new Error('decodePng: interlaced PNGs are not handled');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  // bytes per pixel of each colour type: grey 0, RGB 2, grey+alpha 4, RGBA 6 (palette 3 not handled)
  const bpp = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (!bpp) throw new Error(`decodePng: colour type ${colorType} is not handled`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  if (raw.length < (stride + 1) * height) throw new Error('decodePng: image data is short');
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? px.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0;
      const b = up[i];
      const c = i >= bpp ? up[i - bpp] : 0;
      let pred: number;
      if (filter === 0) pred = 0;
      else if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`decodePng: unknown filter ${filter} on row ${y}`);
      row[i] = (src[i] + pred) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const s = p * bpp;
    const [r, g, b, alpha] =
      bpp === 1
        ? [px[s], px[s], px[s], 255]
        : bpp === 2
          ? [px[s], px[s], px[s], px[s + 1]]
          : bpp === 3
            ? [px[s], px[s + 1], px[s + 2], 255]
            : [px[s], px[s + 1], px[s + 2], px[s + 3]];
    rgba.set([r, g, b, alpha], p * 4);
  }
  return { width, height, rgba };
}

/** Distinct RGBA colours in the image. */
export function distinctColors(img: Image): number {
  const seen = new Set<number>();
  const v = new DataView(img.rgba.buffer, img.rgba.byteOffset, img.rgba.byteLength);
  for (let i = 0; i < img.rgba.length; i += 4) seen.add(v.getUint32(i));
  return seen.size;
}

/** Pixels within `tolerance` (per channel) of the colour [r, g, b]. */
export function countNear(img: Image, rgb: readonly [number, number, number], tolerance = 24): number {
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    if (
      Math.abs(img.rgba[i] - rgb[0]) <= tolerance &&
      Math.abs(img.rgba[i + 1] - rgb[1]) <= tolerance &&
      Math.abs(img.rgba[i + 2] - rgb[2]) <= tolerance
    )
      n++;
  }
  return n;
}

/** The share of pixels that have the image's most common colour (1 for a blank image). */
export function dominantShare(img: Image): number {
  const counts = new Map<number, number>();
  const v = new DataView(img.rgba.buffer, img.rgba.byteOffset, img.rgba.byteLength);
  let best = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    const c = v.getUint32(i);
    const n = (counts.get(c) ?? 0) + 1;
    counts.set(c, n);
    if (n > best) best = n;
  }
  return best / (img.width * img.height);
}

/** Asserts that a screenshot is a drawn page: a real size, more than a few colours, no colour covering it. */
export function assertNotBlank(img: Image, name: string): void {
  assert.ok(img.width > 100 && img.height > 100, `${name}: ${img.width}x${img.height}`);
  assert.ok(distinctColors(img) > 8, `${name}: the screenshot is blank`);
  assert.ok(dominantShare(img) < 0.99, `${name}: the screenshot is almost one colour`);
}
