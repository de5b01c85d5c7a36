/**
 * The ggml type table against ggml's own `ggml_type_name` / `ggml_blck_size` / `ggml_type_size`
 * for every type id (fixture types.json), and the row-size rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GGML_TYPES,
  ggmlType,
  ggmlTypeById,
  isQuantType,
  QUANT_TYPES,
  rowBytes,
} from '../../../src/kernels/quant_types.ts';
import { ggmlTypeTable } from './ggml_fixtures.ts';

test('every ggml type id has ggml’s name, block size and bytes per block; removed ids are unknown', () => {
  const table = ggmlTypeTable();
  assert.equal(table.length, 43, 'GGML_TYPE_COUNT of the bundled ggml');
  let known = 0;
  for (const g of table) {
    const t = ggmlTypeById(g.id);
    if (g.block_size === 0) {
      assert.equal(t, undefined, `id ${g.id} (${g.name}) is removed`);
      continue;
    }
    known++;
    assert.ok(t, `id ${g.id} (${g.name})`);
    assert.equal(t.name.toLowerCase(), g.name.toLowerCase());
    assert.equal(t.blockSize, g.block_size, t.name);
    assert.equal(t.typeSize, g.type_size, t.name);
    assert.equal(ggmlType(t.name), t);
  }
  assert.equal(GGML_TYPES.length, known);
  assert.equal(ggmlTypeById(43), undefined);
  assert.throws(() => ggmlType('Q4_K_M'), /unknown ggml type "Q4_K_M"/);
});

test('the codec types are the ones named in the issue', () => {
  assert.deepEqual(
    [...QUANT_TYPES],
    ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'],
  );
  assert.ok(isQuantType('Q6_K'));
  assert.ok(!isQuantType('Q3_K'));
  assert.ok(!isQuantType('F32'));
});

test('rowBytes: whole blocks only', () => {
  assert.equal(rowBytes(ggmlType('Q4_K'), 512), 288);
  assert.equal(rowBytes(ggmlType('Q8_0'), 64), 68);
  assert.equal(rowBytes(ggmlType('F16'), 3), 6);
  assert.equal(rowBytes(ggmlType('Q6_K'), 0), 0);
  assert.throws(() => rowBytes(ggmlType('Q4_K'), 100, 'tensor w'), {
    message: "tensor w: row length 100 is not a multiple of Q4_K's block size 256",
  });
  assert.throws(() => rowBytes(ggmlType('Q8_0'), -32), /invalid length -32/);
});
