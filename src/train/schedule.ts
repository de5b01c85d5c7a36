/** Learning-rate schedule: linear warmup, then cosine decay to minLr (nanoGPT's get_lr). */
export interface Schedule {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine (default lr / 10). */
  minLr?: number;
}

/** The learning rate at optimizer step `step` (0-based). */
export function lrAt(s: Schedule, step: number): number {
  const minLr = s.minLr ?? s.lr / 10;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (step >= s.totalSteps) return minLr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = (step - s.warmupSteps) / span;
  return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - minLr);
}
