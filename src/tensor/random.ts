/**
 * A small seeded RNG (xoshiro128**, 128-bit state seeded through splitmix32), so that a seed
 * reproduces initialisation, dropout masks and sampling on every backend and machine.
 */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  /**
   * false for `Rng.forLoading()`: Tensor.randn and Tensor.rand then leave their tensors
   * uninitialised instead of drawing (see there).
   */
  readonly initialises: boolean = true;

  /**
   * An Rng for building a module whose every parameter is loaded right after (models/load*.ts):
   * the weight matrices it creates are left uninitialised, so building a 500 MB model takes neither
   * the seconds of drawing 125M normals nor the memory they would touch, before loadWeights puts the
   * file's tensors in their place. Its draws (dropout, sampling) are those of `new Rng(0)`.
   */
  static forLoading(): Rng {
    const r = new Rng(0);
    (r as { initialises: boolean }).initialises = false;
    return r;
  }

  constructor(seed = 0) {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32: spreads a small integer seed over the whole state.
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
  }

  /** Next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  random(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** The state, for checkpoints (restore with setState). */
  getState(): number[] {
    return [...this.s];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error('Rng.setState: state must have 4 words');
    this.s.set(state);
    this.spare = null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
