/**
 * `xfmr info`: the bf16 line names the path the bf16 kernels run and says why, so a user can tell
 * whether AMX is in use. Each XFMR_ISA name must reach the addon (a typo'd or ignored name would
 * print the default path instead).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNative } from '../../src/kernels/native.ts';
import { skipWithoutNative } from '../kernels/require_native.ts';
import { xfmr } from './helpers.ts';

interface Info {
  backend: string;
  bf16: string | null;
  bf16_note: string | null;
  cpu_features: string[];
}

async function info(env: Record<string, string>): Promise<Info> {
  const r = await xfmr(['info', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Info;
}

const skip = skipWithoutNative();
const cpu = loadNative().cpu;

test('xfmr info --json: the default bf16 path is amx with AMX-BF16, else f32, with its reason', {
  skip,
}, async () => {
  const i = await info({ XFMR_ISA: '' });
  assert.equal(i.backend, 'native');
  assert.equal(i.bf16, cpu?.amx_bf16 ? 'amx' : 'f32');
  assert.match(i.bf16_note ?? '', cpu?.amx_bf16 ? /AMX tiles/ : /rounded to bf16, then the f32 GEMM/);
  assert.equal(i.cpu_features.includes('amx_bf16'), Boolean(cpu?.amx_bf16));
});

test('xfmr info --json: XFMR_ISA picks amx-emulated, avx512bf16 and the f32 path', { skip }, async () => {
  const emu = await info({ XFMR_ISA: 'amx-emulated' });
  assert.equal(emu.bf16, 'amx-emulated');
  assert.match(emu.bf16_note ?? '', /emulated tiles/);
  assert.equal((await info({ XFMR_ISA: 'avx512' })).bf16, 'f32');
  const dot = await info({ XFMR_ISA: 'avx512bf16' });
  assert.equal(dot.bf16, cpu?.avx512bf16 && cpu.isa === 'avx512' ? 'avx512bf16' : 'f32');
});
