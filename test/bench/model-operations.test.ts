// The model-operations bench's plumbing: options, the case plan, the target verdicts, the inputs, and one
// small case measured end to end in a child process. Timing itself is not testable; what turns it into the
// printed figures is.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { evaluateTargets, parseOptions, runCase, summarise, TARGETS, type CaseOutcome } from '../../bench/model-operations.js';
import { findCase, MODEL_CASES, modelInputSize, planCases } from '../../bench/lib/model-cases.js';
import { makeSubjectJpeg } from '../../bench/lib/model-inputs.js';
import type { ChildResult } from '../../bench/lib/model-child.js';

describe('options', () => {
  test('defaults: 1, 12 and 24 MP, 3 runs; --quick: 1 MP, 1 run', () => {
    const d = parseOptions([]);
    assert.deepEqual([d.sizes, d.runs, d.largeUpscale, d.check], [[1, 12, 24], 3, false, false]);
    const q = parseOptions(['--quick']);
    assert.deepEqual([q.sizes, q.runs], [[1], 1]);
    const o = parseOptions(['--only', 'remove-png, polish', '--sizes', '1,24', '--runs', '5', '--json', '/tmp/x.json', '--with-large-upscale']);
    assert.deepEqual([o.only, o.sizes, o.runs, o.json, o.largeUpscale], [['remove-png', 'polish'], [1, 24], 5, '/tmp/x.json', true]);
  });
  test('unknown case names and bad numbers are refused', () => {
    assert.throws(() => parseOptions(['--only', 'remove-gif']), /unknown case 'remove-gif'/);
    assert.throws(() => parseOptions(['--runs', '0']), /positive integer/);
    assert.throws(() => parseOptions(['--sizes', '1,x']), /megapixels/);
  });
});

describe('case plan', () => {
  test('every pipeline case has a request the pipeline can check; case names are unique', () => {
    assert.equal(new Set(MODEL_CASES.map((c) => c.name)).size, MODEL_CASES.length);
    for (const c of MODEL_CASES) if (c.run === 'pipeline') assert.ok(c.request?.(modelInputSize(1)).operations, c.name);
  });
  test('1 MP is 1024², 12 MP is 4000×3000', () => {
    assert.deepEqual(modelInputSize(1), { width: 1024, height: 1024 });
    assert.deepEqual(modelInputSize(12), { width: 4000, height: 3000 });
  });
  test('the upscale above 1 MP is opt-in; face detection runs at 1 MP only', () => {
    const plan = planCases({ sizes: [12, 1], largeUpscale: false });
    assert.deepEqual([...new Set(plan.map((p) => p.megapixels))], [1, 12]);
    const up = plan.filter((p) => p.case.name === 'upscale');
    assert.deepEqual(up.map((p) => [p.megapixels, p.skipped]), [[1, undefined], [12, 'opt-in: --with-large-upscale']]);
    assert.deepEqual(plan.filter((p) => p.case.name === 'face-detect').map((p) => p.megapixels), [1]);
    assert.equal(planCases({ sizes: [12], largeUpscale: true }).find((p) => p.case.name === 'upscale')?.skipped, undefined);
    assert.deepEqual(planCases({ sizes: [1], only: ['polish'], largeUpscale: false }).map((p) => p.case.name), ['polish']);
  });
  test('the smart crop asks for a 16:9 window and the upscale for twice the size', () => {
    const size = modelInputSize(12);
    assert.deepEqual(findCase('smart-crop').request?.(size).operations.resizing, { width: 4000, height: 2250, fit: { type: 'crop', crop: 'smart' } });
    assert.deepEqual(findCase('upscale').request?.(size).operations.resizing, { width: 8000, height: 6000 });
  });
});

function result(name: string, mp: number, opSeconds: number[], peakMiB: number, bare?: { seconds: number[]; peakMiB: number }): CaseOutcome {
  const r: ChildResult = {
    case: name,
    megapixels: mp,
    input: { width: 1024, height: 1024, bytes: 1 },
    loadS: 1,
    loadPeakMiB: 500,
    loadedRssMiB: 400,
    op: { wall: opSeconds, cpu: opSeconds, peakMiB },
    peakIsolated: true,
    processPeakMiB: peakMiB,
    loadAvg: [1, 1, 1],
    ...(bare ? { bare: { what: 'net', multiplier: 1, wall: bare.seconds, cpu: bare.seconds, peakMiB: bare.peakMiB } } : {}),
  };
  return { megapixels: mp, case: name, label: findCase(name).label, result: r };
}

describe('summary and targets', () => {
  test('medians and ratios to the bare call', () => {
    const s = summarise(result('remove-png', 1, [3, 1, 2], 900, { seconds: [0.5, 1, 4], peakMiB: 600 }).result as ChildResult);
    assert.deepEqual(s, { seconds: 2, cpuSeconds: 2, peakMiB: 900, bareSeconds: 1, bareCpuSeconds: 1, barePeakMiB: 600, secondsRatio: 2, cpuRatio: 2, peakRatio: 1.5 });
  });
  test('verdicts against the issue targets; what did not run says why', () => {
    const lines = evaluateTargets([
      result('remove-jpeg', 1, [1.2], 1000, { seconds: [1], peakMiB: 900 }),
      result('remove-png', 1, [1.6], TARGETS.removePeakMiB + 1, { seconds: [1], peakMiB: 900 }),
      result('face-detect', 1, [0.25], 300, { seconds: [0.2], peakMiB: 290 }),
      result('polish', 24, [9], 2000),
      result('blur-lens', 24, [9], 3000),
      { megapixels: 24, case: 'upscale', label: findCase('upscale').label, skipped: 'not run (opt-in: --with-large-upscale)' },
    ]);
    assert.deepEqual(
      lines.map((l) => l.verdict),
      ['PASS', 'PASS', 'FAIL', 'FAIL', 'PASS', 'PASS', 'FAIL', 'not run'],
    );
    assert.match(lines[7]?.measured ?? '', /--with-large-upscale/);
    const none = evaluateTargets([]);
    assert.ok(none.every((l) => l.verdict === 'not run'));
  });
});

describe('inputs and one case in a child', () => {
  test('a subject input has the asked size; polish on it is measured in a fresh process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-models-'));
    try {
      const jpeg = await makeSubjectJpeg('fruits', { width: 96, height: 64 }, 90);
      const meta = await sharp(jpeg).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 96, 64]);
      const path = join(dir, 'in.jpg');
      writeFileSync(path, jpeg);
      const outcome = runCase({ megapixels: 1, case: findCase('polish') }, path, { runs: 2 }, true);
      assert.equal(outcome.error, undefined, outcome.error);
      const r = outcome.result as ChildResult;
      assert.deepEqual([r.output?.width, r.output?.height, r.output?.format.toLowerCase()], [96, 64, 'jpeg']);
      assert.ok((r.output?.bytes ?? 0) > 0);
      assert.equal(r.op.wall.length, 2);
      assert.equal(r.op.cpu.length, 2);
      assert.ok(r.op.wall.every((s) => s > 0));
      assert.equal(r.bare, undefined, 'polish has no network');
      assert.ok(r.op.peakMiB >= r.loadedRssMiB - 1 && r.processPeakMiB >= r.op.peakMiB - 1, JSON.stringify(r));
      assert.equal(typeof r.profiling?.polish, 'string');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
