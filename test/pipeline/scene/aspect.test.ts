// Scene sizes for every contract aspect ratio, and the diffusion working size.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCENE_ASPECT_RATIOS } from '../../../src/contract/scene-schemas.js';
import { diffusionSize, SCENE_SIZES, sceneSize } from '../../../src/pipeline/scene/aspect.js';
import { contractSchemas } from '../../support/contract.js';

describe('scene sizes', () => {
  it('covers exactly the contract enumeration', () => {
    const contract = contractSchemas().SceneAspectRatioEnum.enum as string[];
    assert.deepEqual([...SCENE_ASPECT_RATIOS].sort(), [...contract].sort());
    assert.deepEqual(Object.keys(SCENE_SIZES).sort(), [...contract].sort());
  });

  it('is 1024×1024 for the default 1:1, as the reference answer shows', () => {
    assert.deepEqual(sceneSize(undefined), { width: 1024, height: 1024 });
    assert.deepEqual(sceneSize('1:1'), { width: 1024, height: 1024 });
  });

  it('has the exact ratio, sides in multiples of 8, about one megapixel, and the closest such size', () => {
    for (const ratio of SCENE_ASPECT_RATIOS) {
      const [a, b] = ratio.split(':').map(Number) as [number, number];
      const { width, height } = SCENE_SIZES[ratio];
      assert.equal(width * b, height * a, `${ratio}: ${width}x${height} is not exactly ${ratio}`);
      assert.equal(width % 8, 0, ratio);
      assert.equal(height % 8, 0, ratio);
      const area = width * height;
      assert.ok(area >= 0.95 * 1024 * 1024 && area <= 1.12 * 1024 * 1024, `${ratio}: ${area} px`);
      // No other exact-ratio size in multiples of 8 is closer to 1024².
      for (let k = 1; k * a <= 4096; k++) {
        const w = a * k;
        const h = b * k;
        if (w % 8 || h % 8) continue;
        assert.ok(Math.abs(w * h - 1024 * 1024) >= Math.abs(area - 1024 * 1024), `${ratio}: ${w}x${h} is closer`);
      }
    }
  });

  it('portrait and landscape pairs are transposes of each other', () => {
    for (const [l, p] of [
      ['4:3', '3:4'],
      ['3:2', '2:3'],
      ['5:4', '4:5'],
      ['16:9', '9:16'],
    ] as const) {
      assert.deepEqual(SCENE_SIZES[l], { width: SCENE_SIZES[p].height, height: SCENE_SIZES[p].width });
    }
  });
});

describe('diffusionSize', () => {
  it('gives multiples of 64 of about a megapixel with nearly the same ratio', () => {
    for (const ratio of SCENE_ASPECT_RATIOS) {
      const size = SCENE_SIZES[ratio];
      const work = diffusionSize(size);
      assert.equal(work.width % 64, 0, ratio);
      assert.equal(work.height % 64, 0, ratio);
      const drift = Math.abs(work.width / work.height - size.width / size.height) / (size.width / size.height);
      assert.ok(drift < 0.06, `${ratio}: ${work.width}x${work.height} drifts ${drift}`);
      assert.ok(Math.abs(work.width * work.height - 1024 * 1024) < 0.15 * 1024 * 1024, `${ratio}: ${work.width}x${work.height}`);
    }
    assert.deepEqual(diffusionSize({ width: 1024, height: 1024 }), { width: 1024, height: 1024 });
  });

  it('brings a large template down to the working size', () => {
    assert.deepEqual(diffusionSize({ width: 4000, height: 3000 }), { width: 1152, height: 896 });
    // A very narrow template keeps its area; no side drops below 64.
    assert.deepEqual(diffusionSize({ width: 100, height: 5000 }), { width: 128, height: 7232 });
    assert.deepEqual(diffusionSize({ width: 10, height: 5000 }).width, 64);
  });
});
