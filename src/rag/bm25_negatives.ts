/**
 * Hard negatives mined with BM25, for contrastive embedder training (train/contrastive.ts): for
 * each query, the passage BM25 ranks highest among those that are not its own. Such a passage
 * shares the query's words but answers something else, which is what a lexical retriever gets
 * wrong and an embedder must learn to tell apart.
 *
 * The passages go into an in-memory SQLite FTS5 table with the store's tokenizer (porter,
 * unicode61) and the store's query form (ftsQuery: the question's words, stopwords dropped, ORed),
 * so "BM25" means here what it means in retrieval (sqlite_store.ts).
 *
 * The top `skip` results other than the positive are passed over (Karpukhin et al. and later
 * work: the very top of BM25 often holds unlabelled positives), and the pick is the next one.
 */
import Database from 'better-sqlite3';
import { ftsQuery } from './sqlite_store.ts';

export interface MineOptions {
  /** Candidates read per query (default 10). */
  depth?: number;
  /** Wrong passages passed over before the pick (default 0: BM25's best wrong passage). */
  skip?: number;
  /**
   * Query words found in more than this share of the passages are left out of the search (default
   * 0.003), unless that leaves fewer than two: FTS5 scores every document of each word's posting
   * list, so one common word ("library", "package") costs more than the rest of the query, and
   * adds little to BM25 (a low IDF).
   */
  maxDf?: number;
  /** Called every 5000 queries with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * For each query i (whose positive is passages[positives[i]]), the index of its hard negative in
 * `passages`, or -1 when BM25 finds none (no shared word). Passages with the same text as the
 * positive are never picked.
 */
export function mineBm25Negatives(
  queries: readonly string[],
  passages: readonly string[],
  positives: Int32Array,
  o: MineOptions = {},
): Int32Array {
  if (positives.length !== queries.length)
    throw new Error(`mineBm25Negatives: ${positives.length} positives for ${queries.length} queries`);
  const depth = o.depth ?? 10;
  const skip = o.skip ?? 0;
  const df = documentFrequencies(passages);
  const maxCount = (o.maxDf ?? 0.003) * passages.length;
  const db = new Database(':memory:');
  try {
    db.exec("CREATE VIRTUAL TABLE p USING fts5(text, tokenize='porter unicode61')");
    const ins = db.prepare('INSERT INTO p (rowid, text) VALUES (?, ?)');
    db.transaction(() => {
      for (const [i, t] of passages.entries()) ins.run(i + 1, t);
    })();
    const search = db.prepare('SELECT rowid AS id FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?');
    const out = new Int32Array(queries.length).fill(-1);
    for (const [i, q] of queries.entries()) {
      const fq = ftsQuery(rareWords(q, df, maxCount));
      if (fq) {
        const pos = positives[i];
        let passed = 0;
        for (const r of search.all(fq, depth) as { id: number }[]) {
          const j = r.id - 1;
          if (j === pos || passages[j] === passages[pos]) continue;
          if (passed++ < skip) continue;
          out[i] = j;
          break;
        }
      }
      if (o.onProgress && (i + 1) % 5000 === 0) o.onProgress(i + 1, queries.length);
    }
    return out;
  } finally {
    db.close();
  }
}

/** Lower-case words of letters and digits, as ftsQuery splits a question. */
function wordsOf(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** How many passages hold each word. */
function documentFrequencies(passages: readonly string[]): Map<string, number> {
  const df = new Map<string, number>();
  for (const p of passages) for (const w of new Set(wordsOf(p))) df.set(w, (df.get(w) ?? 0) + 1);
  return df;
}

/** The query's words in at most maxCount passages, or its two rarest words if fewer remain. */
export function rareWords(query: string, df: ReadonlyMap<string, number>, maxCount: number): string {
  const ws = [...new Set(wordsOf(query))];
  const rare = ws.filter((w) => (df.get(w) ?? 0) <= maxCount);
  if (rare.length >= 2 || rare.length === ws.length) return rare.join(' ');
  return ws
    .sort((a, b) => (df.get(a) ?? 0) - (df.get(b) ?? 0))
    .slice(0, 2)
    .join(' ');
}
