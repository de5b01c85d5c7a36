/**
 * Progress on stderr for long work: a redrawn bar when stderr is a TTY, otherwise a plain line
 * every few seconds (so CI logs and pipes stay readable).
 */
export class Progress {
  private readonly start = performance.now();
  private lastLine = 0;
  private readonly tty: boolean;

  constructor(
    readonly label: string,
    readonly total: number,
    readonly intervalMs = 5000,
    readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  /** Reports `done` of `total`, with extra text (loss, tokens/s). */
  update(done: number, extra = ''): void {
    const now = performance.now();
    const elapsed = (now - this.start) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const pct = this.total > 0 ? Math.min(1, done / this.total) : 0;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(pct * width);
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      this.stream.write(
        `\r${this.label} [${bar}] ${done}/${this.total} ${extra} eta ${formatSeconds(eta)}  `,
      );
      if (done >= this.total) this.stream.write('\n');
    } else if (now - this.lastLine >= this.intervalMs || done >= this.total) {
      this.lastLine = now;
      this.stream.write(
        `${this.label} ${done}/${this.total} (${(pct * 100).toFixed(0)}%) ${extra} eta ${formatSeconds(eta)}\n`,
      );
    }
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
