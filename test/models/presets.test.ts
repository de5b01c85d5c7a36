/**
 * Every named preset (`xfmr init --config NAME`) is a valid config that survives config.json.
 * Found by `npm run fuzz` (config_json target): the mistral preset had 12 heads over 8 KV heads,
 * so `xfmr init --config mistral` failed with "nHeads (12) must be a multiple of nKvHeads (8)".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHfConfig, toHfConfig } from '../../src/io/hf_config.ts';
import { checkModelConfig } from '../../src/models/config.ts';
import { PRESETS } from '../../src/models/presets.ts';

for (const [name, make] of Object.entries(PRESETS)) {
  test(`preset ${name} is valid and round-trips through config.json`, () => {
    const c = make();
    assert.doesNotThrow(() => checkModelConfig(c, name));
    const back = parseHfConfig(JSON.parse(JSON.stringify(toHfConfig(c))));
    assert.equal(back.arch, c.arch);
    assert.equal(back.nHeads, c.nHeads);
    assert.equal(back.nKvHeads, c.nKvHeads);
    assert.equal(back.vocabSize, c.vocabSize);
  });
}
