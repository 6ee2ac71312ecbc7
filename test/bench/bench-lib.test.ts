// The benchmark's own arithmetic: percentiles, run merging, input sizes and table layout. Timing itself is
// not testable here; what turns timings into the printed figures is.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { join } from 'node:path';
import { median, percentile, summarise } from '../../bench/lib/stats.js';
import { mergeMeasured, toSystemRun, type Measured } from '../../bench/lib/system.js';
import { makePhotoJpeg, mosaicGrid, sizeFor } from '../../bench/lib/inputs.js';
import { renderTable } from '../../bench/lib/table.js';
import { runPhase } from '../../bench/lib/load.js';
import { ROOT } from '../support/server.js';

describe('percentile (nearest rank)', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  test('p50 and p99 of 1..100 are 50 and 99', () => {
    assert.equal(percentile(sorted, 50), 50);
    assert.equal(percentile(sorted, 99), 99);
    assert.equal(percentile(sorted, 100), 100);
  });
  test('with few samples p99 is the maximum, never an interpolated value', () => {
    assert.equal(percentile([3, 7, 10], 99), 10);
    assert.equal(percentile([3, 7, 10], 50), 7);
  });
  test('no samples gives NaN', () => assert.ok(Number.isNaN(percentile([], 50))));
  test('median sorts its input', () => assert.equal(median([9, 1, 5]), 5));
});

describe('summarise', () => {
  test('throughput is completions per second of the window', () => {
    const s = summarise([10, 20, 30, 40], 2000);
    assert.equal(s.count, 4);
    assert.equal(s.throughput, 2);
    assert.equal(s.p50, 20);
    assert.equal(s.mean, 25);
    assert.equal(s.max, 40);
  });
});

describe('mergeMeasured and toSystemRun', () => {
  const part = (latencies: number[], elapsedMs: number, cpuMs: number, failures = 0): Measured => ({
    phase: { latencies, elapsedMs, failures, failureReasons: failures ? ['HTTP 500'] : [] },
    cpuMs,
    mainCpuMs: cpuMs / 4,
    clientCpuMs: 1,
  });
  test('rounds add up: latencies pooled, windows and CPU summed', () => {
    const m = mergeMeasured([part([10, 30], 1000, 60), part([20], 500, 30, 2)]);
    assert.deepEqual(m.phase.latencies, [10, 30, 20]);
    assert.equal(m.phase.elapsedMs, 1500);
    assert.equal(m.phase.failures, 2);
    assert.deepEqual(m.phase.failureReasons, ['HTTP 500']);
    const run = toSystemRun(m);
    assert.equal(run.count, 3);
    assert.equal(run.throughput, 2);
    assert.equal(run.cpuMsPerImage, 30);
    assert.equal(run.mainCpuMsPerImage, 7.5);
    assert.equal(run.clientCpuMsPerImage, 2 / 3);
  });
});

describe('runPhase', () => {
  test('a fixed number of requests runs exactly that many, failures counted apart', async () => {
    let n = 0;
    const r = await runPhase(
      async () => {
        const mine = (n += 1);
        await new Promise((res) => setImmediate(res));
        return mine % 5 === 0 ? { ok: false, reason: 'every fifth fails' } : { ok: true };
      },
      { concurrency: 3, requests: 20 },
    );
    assert.equal(n, 20);
    assert.equal(r.latencies.length, 16);
    assert.equal(r.failures, 4);
    assert.deepEqual(r.failureReasons, ['every fifth fails']);
  });
  test('a thrown error is a failure with its message', async () => {
    const r = await runPhase(async () => Promise.reject(new Error('boom')), { concurrency: 2, requests: 2 });
    assert.equal(r.failures, 2);
    assert.deepEqual(r.failureReasons, ['boom']);
  });
});

describe('bench inputs', () => {
  test('sizes are 4:3 and within 0.1 % of the asked megapixels', () => {
    assert.deepEqual(sizeFor(12), { width: 4000, height: 3000 });
    for (const mp of [1, 12, 50]) {
      const { width, height } = sizeFor(mp);
      assert.ok(Math.abs((width * height) / (mp * 1e6) - 1) < 0.001, `${mp} MP → ${width}x${height}`);
      assert.ok(Math.abs(width / height - 4 / 3) < 0.01);
    }
  });
  test('mosaic tiles are about a quarter of the short side', () => {
    assert.deepEqual(mosaicGrid(4000, 3000), { cols: 5, rows: 4 });
    assert.deepEqual(mosaicGrid(300, 200), { cols: 2, rows: 2 });
  });
  test('the generated photo is a 3-channel JPEG of the asked size, with photo-like detail', async () => {
    const jpeg = await makePhotoJpeg({ label: 'test', width: 640, height: 480 }, join(ROOT, 'test/fixtures/debian'));
    const meta = await sharp(jpeg).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 640);
    assert.equal(meta.height, 480);
    assert.equal(meta.channels, 3);
    // Real photos at quality 90 take well over 1 bit per pixel; flat or blurred fills take far less.
    assert.ok(jpeg.length * 8 > 640 * 480 * 1.5, `only ${jpeg.length} bytes`);
    // Colour, not grey: the tiles are real colour photographs.
    const stats = await sharp(jpeg).stats();
    const means = stats.channels.map((c) => c.mean);
    assert.ok(Math.max(...means) - Math.min(...means) > 5, `channel means ${means.join(', ')}`);
  });
});

describe('renderTable', () => {
  test('pads columns to the widest cell and right-aligns numbers', () => {
    const text = renderTable(['name', 'img/s'], [['sharp', '12.50'], ['Atelier HTTP', '9.1']]);
    assert.equal(
      text,
      ['name          img/s', '------------  -----', 'sharp         12.50', 'Atelier HTTP    9.1'].join('\n'),
    );
  });
});
