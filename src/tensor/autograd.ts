/**
 * Reverse-mode autograd over a tape of coarse ops. Each op output remembers its Node (inputs and
 * a backward closure); `backward(loss)` walks the graph in reverse topological order. Kernels add
 * into gradient buffers, so a tensor used twice simply receives two contributions.
 */
import { computeDtype, withComputeDtype } from './precision.ts';
import { type Node, scopes, Tensor } from './tensor.ts';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the tape (inference, evaluation, optimizer steps). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Marks `out` as produced by an op from `inputs`. When grad is enabled and any input requires a
 * gradient, the node is recorded and out.requiresGrad is set. Returns out.
 * The backward runs at the compute precision of the forward (precision.ts): backward() runs f32,
 * and a node recorded in a bf16 scope re-enters it.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (grad: Tensor) => void,
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    const dtype = computeDtype();
    const run = dtype === 'f32' ? backward : (g: Tensor) => withComputeDtype(dtype, () => backward(g));
    out.node = { op, inputs, backward: run } satisfies Node;
  }
  return out;
}

/**
 * The gradient buffer of t (zeros on first use), for kernels to add into. Leaf gradients are not
 * registered in tidy() scopes: they outlive the step that computed them.
 */
export function gradOf(t: Tensor): Float32Array {
  if (!t.grad) {
    const saved = scopes.splice(0);
    try {
      t.grad = Tensor.zeros(t.shape);
    } finally {
      scopes.push(...saved);
    }
  }
  return t.grad.data;
}

/** Inputs in reverse topological order, starting from `root` (iterative DFS: deep graphs are fine). */
function reverseTopo(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

export interface BackwardOptions {
  /** Keep nodes and intermediate gradients (to call backward again). Default false. */
  retainGraph?: boolean;
}

/**
 * Computes d(root)/d(leaf) for every leaf that requires a gradient, adding into leaf.grad.
 * `grad` seeds root's gradient (default 1 for a one-element root).
 */
export function backward(root: Tensor, grad?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad)
    throw new Error('backward(): the tensor does not require grad (no parameter reaches it)');
  if (!grad && root.size !== 1)
    throw new Error(`backward(): a gradient is needed for non-scalar ${root.describe()}`);
  const order = reverseTopo(root);
  const seed = gradOf(root);
  if (grad) {
    if (grad.size !== root.size) throw new Error(`backward(): gradient size ${grad.size} != ${root.size}`);
    for (let i = 0; i < seed.length; i++) seed[i] += grad.data[i];
  } else seed[0] += 1;
  withComputeDtype('f32', () => {
    for (const t of order) {
      const node = t.node;
      if (!node || !t.grad) continue;
      node.backward(t.grad);
      if (!options.retainGraph) {
        // Intermediate gradients and the tape are not needed any more: free them now.
        t.node = null;
        t.grad.dispose();
        t.grad = null;
      }
    }
  });
}

type Kept =
  | Tensor
  | readonly Kept[]
  | { readonly [k: string]: Kept }
  | number
  | string
  | boolean
  | null
  | undefined
  // biome-ignore lint/suspicious/noConfusingVoidType: lets tidy() wrap blocks that return nothing.
  | void;

function collect(value: unknown, out: Set<Tensor>): void {
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collect(v, out);
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors it returns (which move
 * to the enclosing scope). Parameters (Tensor.param) and leaf gradients are never disposed.
 */
export function tidy<T extends Kept>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keep = new Set<Tensor>();
  collect(result, keep);
  for (const t of scope) {
    if (!keep.has(t)) t.dispose();
  }
  const parent = scopes.at(-1);
  if (parent) for (const t of keep) if (scope.has(t)) parent.add(t);
  return result;
}

/** Removes t from every open scope, so tidy() will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}
