/**
 * A tiny real-prose QA set on disk, in the layout of eval/realprose (src/recipe/realprose.ts):
 * docs/ID.txt, manifest.json (each document's split) and questions.json. The tests of `xfmr eval`
 * and of its calibration build theirs from the same manual-page excerpts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Excerpts of manual pages, as eval/realprose keeps them. */
export const PAGES = {
  timeout:
    'TIMEOUT(1)\n\nNAME\n       timeout - run a command with a time limit\n\n       124    if COMMAND times out\n',
  watch: 'WATCH(1)\n\n       By default, command is run every 2 seconds.\n',
  sleep: 'SLEEP(1)\n\n       Pause for NUMBER seconds.\n',
} as const;

export interface TinyDoc {
  id: string;
  split: 'dev' | 'test';
  text: string;
}

export interface TinyQuestions {
  answerable: { id: string; doc: string; question: string; answers: string[] }[];
  unanswerable: { id: string; about: string; question: string }[];
}

/** Writes the set under `root` and returns `root`. */
export function writeRealproseSet(root: string, docs: TinyDoc[], questions: TinyQuestions): string {
  mkdirSync(join(root, 'docs'), { recursive: true });
  for (const d of docs) writeFileSync(join(root, 'docs', `${d.id}.txt`), d.text);
  const documents = docs.map((d) => ({
    id: d.id,
    split: d.split,
    kind: 'man',
    source: `man ${d.id}`,
    path: `/usr/share/man/man1/${d.id}.1.gz`,
    package: 'test',
    license: 'test',
  }));
  writeFileSync(join(root, 'manifest.json'), JSON.stringify({ documents }));
  writeFileSync(join(root, 'questions.json'), JSON.stringify(questions));
  return root;
}
