// `atelier models list` and `atelier models pull NAME` as an operator runs them, against a loopback hub.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../support/cli.js';
import { startFakeHub, type FakeHub } from '../support/model-hub.js';
import { writeSyntheticCaptionSet } from '../support/onnx-builder.js';

let hub: FakeHub;
let data: string;
let source: string;
const saved = process.env.ATELIER_MODELS_DIR;

before(async () => {
  delete process.env.ATELIER_MODELS_DIR;
  data = mkdtempSync(join(tmpdir(), 'atelier-cli-data-'));
  source = mkdtempSync(join(tmpdir(), 'atelier-cli-hub-'));
  writeSyntheticCaptionSet(source, { merged: true });
  hub = await startFakeHub();
  hub.publish('Xenova/vit-gpt2-image-captioning', 'main', source);
  process.env.ATELIER_MODEL_HUB_URL = hub.url;
});

after(async () => {
  delete process.env.ATELIER_MODEL_HUB_URL;
  if (saved !== undefined) process.env.ATELIER_MODELS_DIR = saved;
  await hub.close();
  rmSync(data, { recursive: true, force: true });
  rmSync(source, { recursive: true, force: true });
});

interface Listing {
  modelSets: { name: string; state: string; serves: string[] }[];
  capabilities: { capability: string; serving: string | null }[];
}

test('models list shows what is missing and the pull command', async () => {
  const { stdout } = await cli(data, 'models', 'list');
  assert.match(stdout, /vit-gpt2-caption-onnx\s+missing/);
  assert.match(stdout, /install: npm run atelier -- models pull sd15-inpaint-onnx/);
  assert.match(stdout, /caption\s+not available; needs vit-gpt2-caption-onnx/);
});

test('models pull installs a set from the hub with progress on stderr; list then shows it serving', async () => {
  const { stderr } = await cli(data, 'models', 'pull', 'vit-gpt2-caption-onnx');
  assert.match(stderr, /vit-gpt2-caption-onnx: onnx\/encoder_model\.onnx/);
  assert.match(stderr, /vit-gpt2-caption-onnx: 100% /);
  assert.match(stderr, /Installed vit-gpt2-caption-onnx/);
  assert.ok(existsSync(join(data, 'models', 'vit-gpt2-caption-onnx', 'onnx', 'decoder_model_merged.onnx')));
  const listing = JSON.parse((await cli(data, 'models', 'list', '--json')).stdout) as Listing;
  assert.equal(listing.modelSets.find((m) => m.name === 'vit-gpt2-caption-onnx')?.state, 'installed');
  assert.equal(listing.capabilities.find((c) => c.capability === 'caption')?.serving, 'vit-gpt2-caption-onnx');
  const again = await cli(data, 'models', 'pull', 'vit-gpt2-caption-onnx');
  assert.match(again.stdout, /already installed/);
});

test('models pull of an unknown set fails with a message', async () => {
  await assert.rejects(cli(data, 'models', 'pull', 'no-such-set'), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stderr ?? '', /unknown model set 'no-such-set'/);
    return true;
  });
});
