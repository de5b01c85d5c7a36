/**
 * Module: a named tree of parameters, as in torch.nn. Names are the canonical checkpoint names
 * (src/io/weight_names.ts), so loading and saving a model is a rename table, not a rewrite.
 *
 * Weight matrices (the weights of Linear and Embedding, registered with `matrix()`) may be stored
 * in a low-precision dtype for inference (`castMatrices`, `loadWeights`): such a parameter is
 * replaced by a tensor of the new dtype, so the modules that own one read it through `getParam`
 * rather than keeping the tensor in a field. Norm weights and biases always stay f32.
 */
import { type DType, keep, Rng, Tensor } from '../tensor/index.ts';

/** One parameter with the module that owns it. */
interface ParamSlot {
  owner: Module;
  local: string;
  tensor: Tensor;
}

export abstract class Module {
  /** Own parameters by local name ('weight', 'bias'). */
  protected readonly params = new Map<string, Tensor>();
  /** Child modules by local name ('attention', 'layers.0'). */
  protected readonly children = new Map<string, Module>();
  /** Local names of own parameters that are weight matrices (may be low precision). */
  private readonly matrices = new Set<string>();

  protected param(name: string, t: Tensor): Tensor {
    this.params.set(name, Tensor.param(t, name));
    return t;
  }

  /** A parameter that is a weight matrix: it may be replaced by a cast (read it with getParam). */
  protected matrix(name: string, t: Tensor): Tensor {
    this.matrices.add(name);
    return this.param(name, t);
  }

  /** The current tensor of own parameter `name`. */
  protected getParam(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no parameter ${name}`);
    return t;
  }

  /** Every parameter with its owner, depth first, in declaration order (as namedParameters). */
  private slots(prefix = '', out = new Map<string, ParamSlot>()): Map<string, ParamSlot> {
    for (const [n, t] of this.params) out.set(prefix + n, { owner: this, local: n, tensor: t });
    for (const [n, c] of this.children) c.slots(`${prefix}${n}.`, out);
    return out;
  }

  /**
   * Puts `t` in place of own parameter `local` (a matrix): it keeps the full name, requires grad
   * when it is f32 and the old one did, and the old buffer is dropped rather than pooled.
   */
  private replace(local: string, t: Tensor): void {
    const old = this.getParam(local);
    keep(t);
    t.name = old.name;
    t.requiresGrad = t.dtype === 'f32' && old.requiresGrad;
    this.params.set(local, t);
    if (old !== t) old.dispose({ pool: false });
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every parameter under its full dotted name, depth first, in declaration order. */
  namedParameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, t] of this.params) out.set(prefix + n, t);
    for (const [n, c] of this.children)
      for (const [k, t] of c.namedParameters(`${prefix}${n}.`)) out.set(k, t);
    return out;
  }

  /** Gives every parameter its full dotted name (call once on the root module). */
  nameParameters(): this {
    for (const [n, t] of this.namedParameters()) t.name = n;
    return this;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  /** Number of trainable values. */
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  /** Full names of the weight matrices: the parameters that may be stored in a low precision. */
  matrixNames(): Set<string> {
    const out = new Set<string>();
    for (const [name, s] of this.slots()) if (s.owner.matrices.has(s.local)) out.add(name);
    return out;
  }

  /**
   * Stores every weight matrix in `dtype` (bf16 rounds to nearest even; back to f32 is exact but
   * the precision lost stays lost). Norms and biases stay f32. A bf16 model is for inference: its
   * matrices cannot require grad, so an optimizer over it fails naming the first one.
   */
  castMatrices(dtype: DType): this {
    for (const s of this.slots().values())
      if (s.owner.matrices.has(s.local) && s.tensor.dtype !== dtype)
        s.owner.replace(s.local, s.tensor.cast(dtype));
    return this;
  }

  /**
   * Loads parameters by full name from tensors the module takes over (the caller must not use them
   * after). A weight matrix becomes the given tensor itself, in its dtype (f32 or a low precision:
   * no copy, and the old buffer is dropped); any other parameter must come as f32 and is copied.
   * Every parameter must be present with its shape; `where` names the source in errors.
   */
  loadWeights(values: ReadonlyMap<string, Tensor>, where = 'weights'): void {
    const slots = this.slots();
    for (const [name, s] of slots) {
      const v = values.get(name);
      const p = s.tensor;
      if (!v) throw new Error(`${where}: missing tensor ${name} (shape [${p.shape.join(', ')}])`);
      if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i]))
        throw new Error(
          `${where}: tensor ${name} has shape [${v.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      if (!s.owner.matrices.has(s.local) && v.dtype !== 'f32')
        throw new Error(
          `${where}: tensor ${name} is ${v.dtype}; only weight matrices may be, norms and biases stay f32`,
        );
    }
    for (const [name, s] of slots) {
      const v = values.get(name) as Tensor;
      if (s.owner.matrices.has(s.local)) s.owner.replace(s.local, v);
      else {
        s.tensor.data.set(v.data);
        v.dispose();
      }
    }
  }

  /** Bytes the parameters take in memory (each in its dtype). */
  parameterBytes(): number {
    return this.parameters().reduce((a, p) => a + p.nbytes, 0);
  }

  /** The dtype of the weight matrices, or 'mixed' when they differ. */
  matrixDtype(): DType | 'mixed' {
    const kinds = new Set<DType>();
    for (const s of this.slots().values()) if (s.owner.matrices.has(s.local)) kinds.add(s.tensor.dtype);
    return kinds.size === 1 ? [...kinds][0] : kinds.size === 0 ? 'f32' : 'mixed';
  }

  /**
   * Copies values into the parameters by full name. Every parameter must be present with the
   * right size; `where` names the source in errors (a file path).
   */
  loadStateDict(values: ReadonlyMap<string, Float32Array>, where = 'state dict'): void {
    for (const [name, p] of this.namedParameters()) {
      const v = values.get(name);
      if (!v) throw new Error(`${where}: missing tensor ${name} (shape [${p.shape.join(', ')}])`);
      if (v.length !== p.size) {
        throw new Error(
          `${where}: tensor ${name} has ${v.length} values, expected shape [${p.shape.join(', ')}]`,
        );
      }
      p.data.set(v);
    }
  }

  /** Parameter values by full name (views, not copies). */
  stateDict(): Map<string, Float32Array> {
    return new Map([...this.namedParameters()].map(([n, p]) => [n, p.data]));
  }
}

/** Normal(0, std) initialiser drawing from a seeded RNG. */
export function normal(shape: number[], rng: Rng, std: number): Tensor {
  return Tensor.randn(shape, rng, std);
}

export { Rng };
