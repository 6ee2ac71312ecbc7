// Measures peak memory (RSS) of the common path: a large JPEG resized to 1000 px wide and encoded as JPEG.
// Not a test: run it by hand to check that the single-pass pipeline keeps memory near the output size.
//
//   node --import tsx scripts/measure-resize-rss.ts [megapixels=50]
//
// The input is generated in a child process first, so its generation does not count towards the peak.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const mp = Number(process.argv[2] ?? 50);
const width = Math.round(Math.sqrt(mp * 1e6 * 1.5));
const height = Math.round((mp * 1e6) / width);
const file = join(tmpdir(), `atelier-rss-${width}x${height}.jpg`);

if (process.env.ATELIER_RSS_GENERATE) {
  const sharp = (await import('sharp')).default;
  // Noise keeps the JPEG realistically large (no flat areas to compress away).
  await sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 90 })
    .toFile(file);
  process.exit(0);
}

if (!existsSync(file)) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), String(mp)], {
    env: { ...process.env, ATELIER_RSS_GENERATE: '1' },
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('generating the input failed');
}

/** Peak resident set size of this process so far (Linux), in MiB. */
function peakRssMiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

const { runEdit } = await import('../src/pipeline/runner.js');
const { DEFAULT_LIMITS } = await import('../src/pipeline/index.js');
const input = readFileSync(file);
const before = peakRssMiB();
const started = performance.now();
const result = await runEdit({
  input,
  operations: { resizing: { width: 1000 } },
  output: { format: 'jpeg' },
  limits: DEFAULT_LIMITS,
});
const ms = performance.now() - started;
const after = peakRssMiB();
console.log(
  JSON.stringify(
    {
      input: `${width}x${height} (${(input.length / 2 ** 20).toFixed(1)} MiB JPEG)`,
      output: `${result.output.width}x${result.output.height}`,
      path: result.profiling.path,
      ms: Math.round(ms),
      peak_rss_before_mib: Math.round(before),
      peak_rss_after_mib: Math.round(after),
    },
    null,
    2,
  ),
);
