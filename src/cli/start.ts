/** `xfmr start` (npm start): for now, the backend info and a tiny training demo. */
import { run as info } from './info.ts';

export async function run(argv: string[]): Promise<void> {
  await info([]);
  const { runDemo } = await import('../train/demo.ts');
  await runDemo(argv);
}
