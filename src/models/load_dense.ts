/**
 * A sentence-transformers Dense module's weights: `model.safetensors` in the module's folder
 * (e.g. `2_Dense/`) holding `linear.weight` [out, in] and, with bias, `linear.bias` [out], the
 * names of the torch.nn.Linear inside it. The Dense config (sizes, activation) is read by the
 * caller (src/rag/sentence_transformers.ts); this file only reads tensors, as only models/load*.ts
 * touches io. Older folders with `pytorch_model.bin` (a pickle) are refused with a message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../io/safetensors.ts';
import { toFloat32 } from '../io/tensors.ts';

export interface DenseWeights {
  /** [out, in], row-major. */
  weight: Float32Array;
  /** [out], or null without bias. */
  bias: Float32Array | null;
}

/** Reads `dir/model.safetensors` for a Dense layer of `inFeatures` -> `outFeatures`. */
export function loadDenseWeights(
  dir: string,
  inFeatures: number,
  outFeatures: number,
  bias: boolean,
): DenseWeights {
  const path = join(dir, 'model.safetensors');
  if (!existsSync(path)) {
    const bin = existsSync(join(dir, 'pytorch_model.bin'));
    throw new Error(
      bin
        ? `${dir}: the Dense weights are in pytorch_model.bin (a pickle), which xfmr does not read; ` +
            'save them as model.safetensors (safetensors.torch.save_file)'
        : `${path}: no such file (the Dense module's weights)`,
    );
  }
  const names = bias ? ['linear.weight', 'linear.bias'] : ['linear.weight'];
  const { tensors } = readSafetensors(path);
  const get = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${path}: no tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new Error(`${path}: ${name} has shape [${t.shape}], expected [${shape}]`);
    return Float32Array.from(toFloat32(t));
  };
  for (const name of tensors.keys())
    if (!names.includes(name))
      throw new Error(`${path}: unexpected tensor ${name} (expected ${names.join(', ')})`);
  return {
    weight: get('linear.weight', [outFeatures, inFeatures]),
    bias: bias ? get('linear.bias', [outFeatures]) : null,
  };
}
