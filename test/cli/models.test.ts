import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../support/cli.js';

test('`atelier models list --json` shows the packaged models as available and the model sets as missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'atelier-models-'));
  try {
    const { stdout } = await cli(dir, 'models', 'list', '--json');
    const listing = JSON.parse(stdout) as {
      models: { id: string; state: string; package: string; sizeBytes: number }[];
      modelSets: { name: string; state: string }[];
    };
    const ids = listing.models.map((m) => m.id);
    for (const id of ['isnet-general-small', 'esrgan-medium-x2', 'face-ssd-mobilenetv1', 'ppocr-v4-det', 'centernet-coco']) {
      const model = listing.models.find((m) => m.id === id);
      assert.ok(model, `${id} listed (got ${ids.join(', ')})`);
      assert.equal(model.state, 'available', id);
      assert.ok(model.sizeBytes > 100_000, `${id} has its real size on disk`);
    }
    assert.ok(listing.modelSets.some((s) => s.name === 'sd15-onnx' && s.state === 'missing'), 'no diffusion set in a fresh data dir');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
