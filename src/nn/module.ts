/**
 * Module: a named tree of parameters, as in torch.nn. Names are the canonical checkpoint names
 * (src/io/weight_names.ts), so loading and saving a model is a rename table, not a rewrite.
 */
import { Rng, Tensor } from '../tensor/index.ts';

export abstract class Module {
  /** Own parameters by local name ('weight', 'bias'). */
  protected readonly params = new Map<string, Tensor>();
  /** Child modules by local name ('attention', 'layers.0'). */
  protected readonly children = new Map<string, Module>();

  protected param(name: string, t: Tensor): Tensor {
    this.params.set(name, Tensor.param(t, name));
    return t;
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
