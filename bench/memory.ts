/**
 * `npm run bench -- memory [ITERATIONS]`: 10,000 forward+backward+AdamW iterations of the toy
 * transformer; asserts that RSS stays within 10% of its value after iteration 100 (exit code 1
 * otherwise) and prints the RSS curve.
 */
import { kernels } from '../src/kernels/index.ts';
import { randomDataLoop } from '../src/train/demo.ts';

const iterations = Number(process.argv[2] ?? 10000);
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const curve: [number, number][] = [];
const t0 = performance.now();
randomDataLoop(iterations, (i, rss) => {
  curve.push([i, mb(rss)]);
  if (i % 1000 === 0) console.log(`iteration ${i}: rss ${mb(rss)} MB`);
});
const seconds = (performance.now() - t0) / 1000;
const base = curve[0][1];
const max = Math.max(...curve.map(([, r]) => r));
const last = curve.at(-1)?.[1] ?? base;
const ok = max <= base * 1.1;
console.log(
  `backend ${kernels().name}: rss after 100 iterations ${base} MB, max ${max} MB, last ${last} MB (${ok ? 'within' : 'OUTSIDE'} 10%)`,
);
console.log(
  JSON.stringify({
    iterations,
    backend: kernels().name,
    seconds: Math.round(seconds * 10) / 10,
    rss_mb_at_100: base,
    rss_mb_max: max,
    rss_mb_last: last,
    growth: Math.round((max / base - 1) * 1000) / 1000,
    ok,
  }),
);
if (!ok) process.exitCode = 1;
