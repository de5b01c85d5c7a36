/**
 * JSONL training data: SFT rows ({"prompt","completion"} or {"messages"}), preference rows (the
 * three TRL forms) and PPO prompt sets, built valid and then damaged line by line (JSON edits,
 * bare values, junk lines, CRLF, blank lines). Fed to parseSftJsonl, parsePreferenceJsonl and
 * parsePromptJsonl. Clean: an Error naming the file and line ("data.jsonl:3: ...").
 */
import fc from 'fast-check';
import { parsePreferenceJsonl, parsePromptJsonl } from '../../src/train/preference_data.ts';
import { parseSftJsonl } from '../../src/train/sft.ts';
import { type FuzzTarget, namedError } from '../target.ts';
import { applyJsonEdits, type Json, type JsonEdit, jsonEdits } from './json_mutate.ts';

const msgs = (...pairs: [string, string][]): Json => pairs.map(([role, content]) => ({ role, content }));
const ROWS: Json[] = [
  { prompt: 'What is 2+2?', completion: '4' },
  { messages: msgs(['system', 's'], ['user', 'u'], ['assistant', 'a']) },
  { prompt: 'p', chosen: 'good', rejected: 'bad' },
  { prompt: msgs(['user', 'u']), chosen: msgs(['assistant', 'c']), rejected: msgs(['assistant', 'r']) },
  { chosen: msgs(['user', 'u'], ['assistant', 'c']), rejected: msgs(['user', 'u'], ['assistant', 'r']) },
  { prompt: 'just a prompt' },
];

interface Line {
  row: number;
  edits: JsonEdit[];
  raw: string | null;
}

export const jsonlTarget: FuzzTarget<{ lines: Line[]; crlf: boolean }> = {
  name: 'jsonl',
  what: 'data.jsonl -> parseSftJsonl, parsePreferenceJsonl, parsePromptJsonl',
  hangMs: 1000,
  arbitrary: fc.record({
    lines: fc.array(
      fc.record({
        row: fc.nat(),
        edits: jsonEdits(2),
        raw: fc.option(fc.oneof(fc.string(), fc.constantFrom('null', '[]', '1', '"s"', '{', '')), {
          freq: 6,
        }),
      }),
      { maxLength: 6 },
    ),
    crlf: fc.boolean(),
  }),
  run(input) {
    const text = input.lines
      .map((l) => l.raw ?? JSON.stringify(applyJsonEdits(ROWS[l.row % ROWS.length]!, l.edits)))
      .join(input.crlf ? '\r\n' : '\n');
    const errors: unknown[] = [];
    for (const parse of [parseSftJsonl, parsePreferenceJsonl, parsePromptJsonl]) {
      try {
        parse(text, 'data.jsonl');
      } catch (e) {
        errors.push(e);
      }
    }
    // Every parser must fail cleanly; report the first that did not (or, when all three refused
    // the text cleanly, the first refusal).
    for (const e of errors) if (namedError(e, 'data.jsonl:') !== true) throw e;
    if (errors.length === 3) throw errors[0];
  },
  clean: (e) => namedError(e, 'data.jsonl:'),
};
