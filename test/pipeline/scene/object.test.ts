// The object's cut-out: the input's own transparency wins when it has a real transparent area; otherwise
// the background-removal model runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelRegistry } from '../../../src/models/registry.js';
import type { RawImage } from '../../../src/pipeline/raw-image.js';
import { cutOut, hasTransparency } from '../../../src/pipeline/scene/object.js';

function rgba(width: number, height: number, alphaAt: (x: number, y: number) => number): RawImage {
  const data = Buffer.alloc(width * height * 4, 200);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[(y * width + x) * 4 + 3] = alphaAt(x, y);
  return { data, width, height, channels: 4 };
}

describe('hasTransparency', () => {
  it('needs a real transparent area, not just an alpha channel or a stray pixel', () => {
    assert.equal(hasTransparency(rgba(100, 100, () => 255)), false, 'opaque alpha channel');
    assert.equal(hasTransparency(rgba(100, 100, (x, y) => (x === 0 && y === 0 ? 0 : 255))), false, 'one stray pixel');
    assert.equal(hasTransparency(rgba(100, 100, (x) => (x < 10 ? 0 : 255))), true, 'a transparent margin');
    assert.equal(hasTransparency({ data: Buffer.alloc(30), width: 5, height: 2, channels: 3 }), false, 'no alpha channel');
  });
});

describe('cutOut', () => {
  // An empty registry: any attempt to run the model fails, which tells the two paths apart.
  const ctx = () => ({ models: new ModelRegistry(), profiling: {} });

  it('uses the input as it is when it is already cut out', async () => {
    const img = rgba(50, 50, (x) => (x < 25 ? 0 : 255));
    const cut = await cutOut(img, ctx());
    assert.equal(cut.source, 'input_alpha');
    assert.equal(cut.image, img);
  });

  it('sends an opaque input to the background-removal model', async () => {
    await assert.rejects(cutOut(rgba(50, 50, () => 255), ctx()), /unknown model 'isnet/);
    await assert.rejects(cutOut({ data: Buffer.alloc(50 * 50 * 3), width: 50, height: 50, channels: 3 }, ctx()), /unknown model 'isnet/);
  });
});
