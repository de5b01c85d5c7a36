/**
 * Calibrating a model's abstention (`xfmr eval --calibrate`): on the real-prose DEV split only,
 * the grounded answer of every question with hybrid retrieval, exactly as `npm run eval` asks it
 * (the same chunks, each read alone, the same token budget), then the threshold that abstains on the most unanswerable
 * questions while answering at least 90% of the answerable ones (src/rag/calibrate.ts), written
 * atomically to MODEL/xfmr_rag.json (src/rag/abstain.ts reads it).
 *
 * Every confidence kind is measured (its AUROC between answerable and unanswerable questions, and
 * the figures at its own threshold) so that the report says which separates better; the one
 * written is `confidence` (default DEFAULT_CONFIDENCE). The test split is never read here, and the
 * docs/ questions are not used (they have no dev/test split, and `npm run eval` reports them).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.ts';
import type { LoadDtype } from '../models/load.ts';
import {
  type AbstainPolicy,
  CONFIDENCE_KINDS,
  type ConfidenceKind,
  confidenceOf,
  DEFAULT_CONFIDENCE,
  POLICY_FILE,
  policyJson,
  type QuoteScore,
} from '../rag/abstain.ts';
import { auroc, chooseThreshold, type ThresholdChoice } from '../rag/calibrate.ts';
import { LocalGenerator } from '../rag/generator.ts';
import type { KVType } from '../tensor/index.ts';
import { buildPrompts, type EvalOptions, readRetrieved, realProseEvalSet } from './eval.ts';

export interface CalibrationRow extends ThresholdChoice {
  kind: ConfidenceKind;
  auroc: number;
}

export interface CalibrationReport {
  model: string;
  /** The file written (null with dryRun). */
  file: string | null;
  policy: AbstainPolicy;
  /** One row per confidence kind, on the dev questions. */
  rows: CalibrationRow[];
  answerable: number;
  unanswerable: number;
}

export interface CalibrateOptions extends EvalOptions {
  realproseDir: string;
  /** The least share of answerable questions answered (default 0.9). */
  minAnswerRate?: number;
  /** The confidence written (default DEFAULT_CONFIDENCE). */
  confidence?: ConfidenceKind;
  /** Measure and report, write nothing. */
  dryRun?: boolean;
  dtype?: LoadDtype;
  kvType?: KVType;
}

/** Dev-split confidences per kind, the threshold of each, and the policy file of the chosen kind. */
export async function calibrateModel(dir: string, o: CalibrateOptions): Promise<CalibrationReport> {
  // a broken policy file must not stop its own replacement: it is not read
  const gen = LocalGenerator.load(dir, { chat: false, abstention: false, dtype: o.dtype, kvType: o.kvType });
  const set = realProseEvalSet(o.realproseDir, 'dev');
  const [prompts] = await buildPrompts([set], gen, o);
  const maxTokens = o.maxTokens ?? 24;
  const answerable: QuoteScore[] = [];
  const unanswerable: QuoteScore[] = [];
  for (const [i, item] of set.items.entries()) {
    const q = await readRetrieved(gen, item.question, prompts.chunks[i], maxTokens);
    (item.answers.length > 0 ? answerable : unanswerable).push(q.score as QuoteScore);
    o.onProgress?.(i + 1, set.items.length);
  }
  if (unanswerable.length === 0)
    throw new Error(`${o.realproseDir}: the dev split has no unanswerable questions`);
  const minAnswerRate = o.minAnswerRate ?? 0.9;
  const rows = CONFIDENCE_KINDS.map((kind) => {
    const a = answerable.map((s) => confidenceOf(kind, s));
    const u = unanswerable.map((s) => confidenceOf(kind, s));
    return { kind, auroc: auroc(a, u), ...chooseThreshold(a, u, minAnswerRate) };
  });
  const kind = o.confidence ?? DEFAULT_CONFIDENCE;
  const chosen = rows.find((r) => r.kind === kind) as CalibrationRow;
  if (!Number.isFinite(chosen.threshold))
    throw new Error(
      `calibration: no finite ${kind} threshold (no quote finished within ${maxTokens} tokens?)`,
    );
  const file = join(dir, POLICY_FILE);
  const policy: AbstainPolicy = {
    abstainBelow: chosen.threshold,
    confidence: kind,
    calibratedOn: `${set.name}: ${answerable.length} answerable, ${unanswerable.length} unanswerable; hybrid retrieval k=${o.k ?? 3}, chunks of ${o.chunkTokens ?? 80} tokens, ${maxTokens} answer tokens; at least ${(100 * minAnswerRate).toFixed(0)}% answered`,
    date: new Date().toISOString(),
    file: o.dryRun ? '' : file,
  };
  if (!o.dryRun) {
    const json = {
      ...policyJson(policy),
      dev: { answer_rate: chosen.answerRate, abstain_rate: chosen.abstainRate, auroc: chosen.auroc },
    };
    writeFileAtomic(file, `${JSON.stringify(json, null, 2)}\n`);
  }
  return {
    model: dir,
    file: o.dryRun ? null : file,
    policy,
    rows,
    answerable: answerable.length,
    unanswerable: unanswerable.length,
  };
}

/** The report as a table: one row per confidence kind, the written one marked. */
export function formatCalibration(r: CalibrationReport): string {
  const head = `${'confidence'.padEnd(14)} ${'AUROC'.padStart(6)} ${'threshold'.padStart(10)} ${'answered'.padStart(9)} ${'abstained'.padStart(10)}`;
  const lines = [
    `${r.model}: real-prose dev split, ${r.answerable} answerable and ${r.unanswerable} unanswerable questions`,
    head,
    '-'.repeat(head.length),
    ...r.rows.map(
      (x) =>
        `${x.kind.padEnd(14)} ${x.auroc.toFixed(3).padStart(6)} ${x.threshold.toFixed(4).padStart(10)} ${`${(100 * x.answerRate).toFixed(1)}%`.padStart(9)} ${`${(100 * x.abstainRate).toFixed(1)}%`.padStart(10)}${x.kind === r.policy.confidence ? '  <- chosen' : ''}`,
    ),
    r.file
      ? `wrote ${r.file}: abstain below ${r.policy.abstainBelow} (${r.policy.confidence})`
      : `dry run: nothing written (abstain below ${r.policy.abstainBelow}, ${r.policy.confidence})`,
  ];
  return lines.join('\n');
}
