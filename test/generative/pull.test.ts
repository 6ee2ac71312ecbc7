// `atelier models pull` against a loopback hub serving a small synthetic model set: complete install, resume
// after a dropped connection (HTTP Range), refused checksums, progress output, atomic install.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, PullError, pullModelSet, planFiles, type ProgressStream } from '../../src/generative/pull.js';
import type { ModelSetSpec } from '../../src/generative/model-sets.js';
import { DiffusionPipeline } from '../../src/generative/pipeline.js';
import { startFakeHub, type FakeHub } from '../support/model-hub.js';
import { writeSyntheticModelSet } from '../support/onnx-builder.js';

const source = mkdtempSync(join(tmpdir(), 'atelier-hub-src-'));
let hub: FakeHub;
let models: string;

const spec: ModelSetSpec = {
  name: 'fake-sd',
  title: 'synthetic set for pull tests',
  kind: 'diffusion',
  capabilities: ['txt2img', 'img2img', 'inpaint'],
  hub: { repo: 'atelier-test/fake-sd', revision: 'main' },
  files: [
    { path: 'model_index.json' },
    { path: 'scheduler/scheduler_config.json' },
    { path: 'text_encoder/model.onnx' },
    { path: 'unet/model.onnx' },
    { path: 'vae_decoder/model.onnx' },
    { path: 'vae_encoder/model.onnx', optional: true },
    { path: 'tokenizer/vocab.json' },
    { path: 'tokenizer/merges.txt' },
    { path: 'tokenizer/special_tokens_map.json', optional: true },
    { path: 'safety_checker/model.onnx', optional: true },
  ],
  approxBytes: 100_000,
  licence: 'test',
  hints: {},
};

class Capture implements ProgressStream {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

before(async () => {
  writeSyntheticModelSet(source);
  // External weights next to the UNet that the spec does not list: fetched by the companion rule.
  writeFileSync(join(source, 'unet/model.onnx_data'), Buffer.alloc(5000, 7));
  hub = await startFakeHub();
  hub.publish(spec.hub.repo, spec.hub.revision, source);
});

afterEach(() => {
  if (models) rmSync(models, { recursive: true, force: true });
  hub.requests.length = 0;
});

after(async () => {
  await hub.close();
  rmSync(source, { recursive: true, force: true });
});

function fresh(): string {
  models = mkdtempSync(join(tmpdir(), 'atelier-pull-'));
  return models;
}

test('pulls every file, verifies it, installs atomically, and the set then runs', async () => {
  const dir = fresh();
  const progress = new Capture(false);
  const r = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress });
  assert.equal(r.alreadyInstalled, false);
  const target = join(dir, 'fake-sd');
  assert.equal(r.dir, target);
  const expected = ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'vae_encoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer/special_tokens_map.json', 'unet/model.onnx_data'];
  assert.deepEqual(r.files.map((f) => f.path), expected);
  for (const f of r.files) {
    assert.ok(readFileSync(join(target, f.path)).equals(readFileSync(join(source, f.path))), f.path);
    assert.equal(f.sha256, sha256(join(source, f.path)));
  }
  assert.equal(existsSync(join(dir, '.partial', 'fake-sd')), false);
  const manifest = JSON.parse(readFileSync(join(target, MANIFEST_FILE), 'utf8')) as { repo: string; files: unknown[] };
  assert.equal(manifest.repo, 'atelier-test/fake-sd');
  assert.equal(manifest.files.length, expected.length);
  // LFS-sized files came through the CDN redirect; no Range was needed.
  assert.ok(hub.requests.some((q) => q.status === 302));
  assert.ok(hub.requests.every((q) => q.range === undefined));
  // Non-TTY progress: a line per file and per 10 %, ending with the install line.
  assert.match(progress.text, /fake-sd: unet\/model\.onnx/);
  assert.match(progress.text, /fake-sd: 100% /);
  assert.match(progress.text, /Installed fake-sd \(.+\) in /);
  assert.ok(!progress.text.includes('\r'));

  const pipe = await DiffusionPipeline.load('fake-sd', target);
  try {
    const out = await pipe.txt2img({ prompt: 'a cat', width: 64, height: 64, steps: 2, guidanceScale: 4, seed: 1, numberOfImages: 1 });
    assert.equal(out.images[0]!.data.length, 64 * 64 * 3);
  } finally {
    await pipe.release();
  }

  // Installed: a second pull answers without touching the network.
  hub.requests.length = 0;
  const again = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null });
  assert.equal(again.alreadyInstalled, true);
  assert.equal(hub.requests.length, 0);
});

test('a dropped connection is resumed with a Range request in the same run', async () => {
  const dir = fresh();
  hub.cutAfter('unet/model.onnx', 4000);
  const r = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null });
  const unet = hub.requests.filter((q) => q.path.endsWith('unet/model.onnx') && q.status !== 302);
  assert.equal(unet.length, 2);
  assert.equal(unet[0]!.range, undefined);
  assert.equal(unet[0]!.bytes, 4000);
  assert.equal(unet[1]!.range, 'bytes=4000-');
  assert.equal(unet[1]!.status, 206);
  assert.ok(readFileSync(join(r.dir, 'unet/model.onnx')).equals(readFileSync(join(source, 'unet/model.onnx'))));
});

test('an interrupted pull leaves a part file that the next run resumes', async () => {
  const dir = fresh();
  hub.cutAfter('unet/model.onnx', 3000);
  await assert.rejects(
    pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null, retries: 0 }),
    (err: Error) => err instanceof PullError && /Run the command again to resume/.test(err.message),
  );
  assert.equal(existsSync(join(dir, 'fake-sd')), false, 'nothing installed');
  const part = join(dir, '.partial', 'fake-sd', 'unet', 'model.onnx.part');
  assert.equal(readFileSync(part).length, 3000);
  hub.requests.length = 0;
  const r = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null });
  // Files verified in the first run are not fetched again; the UNet continues from byte 3000.
  assert.ok(!hub.requests.some((q) => q.path.endsWith('text_encoder/model.onnx')));
  const unet = hub.requests.filter((q) => q.path.endsWith('unet/model.onnx') && q.status !== 302);
  assert.deepEqual(unet.map((q) => q.range), ['bytes=3000-']);
  assert.ok(r.downloaded < readFileSync(join(source, 'unet/model.onnx')).length + 10_000 + 20_000);
  assert.ok(readFileSync(join(r.dir, 'unet/model.onnx')).equals(readFileSync(join(source, 'unet/model.onnx'))));
});

test('a server without Range support restarts the file from the beginning', async () => {
  const dir = fresh();
  hub.cutAfter('unet/model.onnx', 2000);
  hub.ignoreRange(true);
  try {
    const r = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null });
    assert.ok(readFileSync(join(r.dir, 'unet/model.onnx')).equals(readFileSync(join(source, 'unet/model.onnx'))));
  } finally {
    hub.ignoreRange(false);
  }
});

test('a checksum mismatch is refused: nothing installed, the bad download discarded', async () => {
  const dir = fresh();
  hub.corrupt('vae_decoder/model.onnx');
  try {
    await assert.rejects(
      pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null }),
      (err: Error) => err instanceof PullError && /checksum mismatch for vae_decoder\/model\.onnx: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/.test(err.message),
    );
    assert.equal(existsSync(join(dir, 'fake-sd')), false);
    assert.equal(existsSync(join(dir, '.partial', 'fake-sd', 'vae_decoder', 'model.onnx.part')), false);
  } finally {
    hub.corrupt('vae_decoder/model.onnx', false);
  }
});

test('small git-stored files are checked against their git blob sha1', async () => {
  const dir = fresh();
  const corruptHub = await startFakeHub();
  try {
    corruptHub.publish(spec.hub.repo, spec.hub.revision, source);
    corruptHub.corrupt('scheduler/scheduler_config.json');
    await assert.rejects(
      pullModelSet('fake-sd', { spec, hubUrl: corruptHub.url, modelsDir: dir, progress: null }),
      /checksum mismatch for scheduler\/scheduler_config\.json: git blob sha1/,
    );
  } finally {
    await corruptHub.close();
  }
});

test('registry checksums and sizes win over the hub; missing required files are refused', async () => {
  const dir = fresh();
  const pinned: ModelSetSpec = { ...spec, files: spec.files.map((f) => (f.path === 'unet/model.onnx' ? { ...f, sha256: '0'.repeat(64) } : f)) };
  await assert.rejects(pullModelSet('fake-sd', { spec: pinned, hubUrl: hub.url, modelsDir: dir, progress: null }), /registry expects 0{64}/);
  const missing: ModelSetSpec = { ...spec, files: [...spec.files, { path: 'unet/extra.onnx' }] };
  await assert.rejects(pullModelSet('fake-sd', { spec: missing, hubUrl: hub.url, modelsDir: dir, progress: null }), /has no file unet\/extra\.onnx/);
  await assert.rejects(pullModelSet('nope', { hubUrl: hub.url, modelsDir: dir, progress: null }), /unknown model set 'nope'/);
  const plan = planFiles(spec, [
    { type: 'file', path: 'unet/model.onnx', size: 10, oid: 'a' },
    { type: 'file', path: 'unet/weights.pb', size: 134, oid: 'b', lfs: { oid: 'c'.repeat(64), size: 99 } },
    { type: 'file', path: 'model_index.json', size: 1, oid: 'd' },
    { type: 'file', path: 'scheduler/scheduler_config.json', size: 1, oid: 'e' },
    { type: 'file', path: 'text_encoder/model.onnx', size: 1, oid: 'f' },
    { type: 'file', path: 'vae_decoder/model.onnx', size: 1, oid: 'g' },
    { type: 'file', path: 'tokenizer/vocab.json', size: 1, oid: 'h' },
    { type: 'file', path: 'tokenizer/merges.txt', size: 1, oid: 'i' },
  ]);
  assert.deepEqual(plan.find((f) => f.path === 'unet/weights.pb'), { path: 'unet/weights.pb', size: 99, sha256: 'c'.repeat(64) });
});

test('TTY progress: one redrawn bar line', async () => {
  const dir = fresh();
  const progress = new Capture(true);
  await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress });
  assert.ok(progress.text.includes('\r\x1b[2K'));
  assert.match(progress.text, /fake-sd 100% \[#{24}\] /);
  assert.match(progress.text, /\nInstalled fake-sd/);
});

test('--force replaces an installed set; a hand-made incomplete folder is replaced too', async () => {
  const dir = fresh();
  mkdirSync(join(dir, 'fake-sd', 'unet'), { recursive: true });
  writeFileSync(join(dir, 'fake-sd', 'unet', 'stale.onnx'), 'old');
  await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null });
  assert.equal(existsSync(join(dir, 'fake-sd', 'unet', 'stale.onnx')), false);
  const r = await pullModelSet('fake-sd', { spec, hubUrl: hub.url, modelsDir: dir, progress: null, force: true });
  assert.equal(r.alreadyInstalled, false);
  assert.ok(existsSync(join(dir, 'fake-sd', MANIFEST_FILE)));
});
