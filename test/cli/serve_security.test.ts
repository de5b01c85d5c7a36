/**
 * The security flags of `xfmr serve` and `xfmr start` (src/cli/serve_security.ts): a non-loopback
 * --host needs a key or --no-auth, XFMR_API_KEY stands in for --api-key, --cors takes one origin,
 * the timeouts take seconds; bad values are one-line usage errors before any model is loaded.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseArgs } from '../../src/cli/args.ts';
import {
  isLoopback,
  SECURITY_FLAGS,
  SECURITY_VALUES,
  securityOptions,
} from '../../src/cli/serve_security.ts';
import { expectOneLineErrors, ROOT, xfmr } from './helpers.ts';

const parse = (argv: string[]) =>
  parseArgs(argv, { values: [...SECURITY_VALUES], flags: [...SECURITY_FLAGS] });

let savedEnv: string | undefined;
before(() => {
  savedEnv = process.env.XFMR_API_KEY;
  delete process.env.XFMR_API_KEY;
});
after(() => {
  if (savedEnv !== undefined) process.env.XFMR_API_KEY = savedEnv;
});

test('loopback hosts', () => {
  for (const h of ['127.0.0.1', '127.0.1.1', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
    assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.com', '128.0.0.1'])
    assert.equal(isLoopback(h), false, h);
});

test('a non-loopback host needs a key or --no-auth; loopback needs nothing', () => {
  assert.deepEqual(securityOptions(parse([]), '127.0.0.1').apiKey, undefined);
  assert.throws(
    () => securityOptions(parse([]), '0.0.0.0'),
    /--host 0\.0\.0\.0 serves other machines: give --api-key/,
  );
  assert.equal(securityOptions(parse(['--api-key', 'k1']), '0.0.0.0').apiKey, 'k1');
  assert.equal(securityOptions(parse(['--no-auth']), '0.0.0.0').apiKey, undefined);
  assert.throws(() => securityOptions(parse(['--api-key', '']), '127.0.0.1'), /--api-key must not be empty/);
  assert.throws(
    () => securityOptions(parse(['--api-key', 'k', '--no-auth']), '::'),
    /--no-auth contradicts --api-key/,
  );
});

test('XFMR_API_KEY is the key when --api-key is absent; the flag wins', () => {
  process.env.XFMR_API_KEY = 'from-env';
  try {
    assert.equal(securityOptions(parse([]), '0.0.0.0').apiKey, 'from-env');
    assert.equal(securityOptions(parse(['--api-key', 'flag']), '0.0.0.0').apiKey, 'flag');
    process.env.XFMR_API_KEY = '';
    assert.throws(() => securityOptions(parse([]), '0.0.0.0'), /serves other machines/);
  } finally {
    delete process.env.XFMR_API_KEY;
  }
});

test('--cors takes one origin; the timeouts take seconds', () => {
  const o = securityOptions(
    parse(['--cors', 'https://app.example.com/', '--headers-timeout', '2.5']),
    '127.0.0.1',
  );
  assert.equal(o.corsOrigin, 'https://app.example.com');
  assert.equal(o.headersTimeoutMs, 2500);
  assert.equal(o.requestTimeoutMs, undefined);
  for (const bad of ['*', 'app.example.com', 'https://app.example.com/path', 'file:///x'])
    assert.throws(() => securityOptions(parse(['--cors', bad]), '127.0.0.1'), /--cors: /, bad);
  for (const flag of ['--headers-timeout', '--request-timeout', '--keep-alive-timeout'])
    for (const bad of ['0', '-1', 'x'])
      assert.throws(
        () => securityOptions(parse([flag, bad]), '127.0.0.1'),
        new RegExp(flag),
        `${flag} ${bad}`,
      );
});

test('serve and start refuse a non-loopback host without a key, in one line, before loading anything', async () => {
  const model = `${ROOT}models/xfmr-rag-tiny`;
  await expectOneLineErrors([
    [['serve', '--model', model, '--host', '0.0.0.0'], /^xfmr: --host 0\.0\.0\.0 serves other machines/],
    [
      ['start', '--host', '0.0.0.0', '--docs', `${ROOT}docs`],
      /^xfmr: --host 0\.0\.0\.0 serves other machines/,
    ],
    [['serve', '--model', model, '--cors', '*'], /^xfmr: --cors: "\*" is not an origin/],
  ]);
  const help = await xfmr(['serve', '--help']);
  assert.equal(help.code, 0);
  for (const flag of [
    '--api-key KEY',
    '--no-auth',
    '--cors ORIGIN',
    '--headers-timeout',
    '--keep-alive-timeout',
  ])
    assert.ok(help.stdout.includes(flag), flag);
});
