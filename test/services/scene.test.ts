// Scene service helpers: output naming for several images, and the template working size.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TEMPLATE_PIXELS, numberedDestination, numberedName, templateSize } from '../../src/services/scene.js';

describe('scene output naming', () => {
  it('numbers the files only when there are several', () => {
    assert.equal(numberedName('product.png', 0, 1), 'product.png');
    assert.equal(numberedName('product.png', 0, 4), 'product_1.png');
    assert.equal(numberedName('product.png', 3, 4), 'product_4.png');
    assert.equal(numberedName('product', 1, 2), 'product_2');
    assert.equal(numberedName('.hidden', 1, 2), '.hidden_2');
  });

  it('keeps folder destinations and numbers file destinations', () => {
    assert.equal(numberedDestination('storage://out/scenes/', 2, 4), 'storage://out/scenes/');
    assert.equal(numberedDestination('storage://out/scenes/hero.png', 0, 1), 'storage://out/scenes/hero.png');
    assert.equal(numberedDestination('storage://out/scenes/hero.png', 1, 2), 'storage://out/scenes/hero_2.png');
    assert.equal(numberedDestination('storage://out/a%20b/my%20hero.webp', 0, 3), 'storage://out/a%20b/my%20hero_1.webp');
  });
});

describe('templateSize', () => {
  it('keeps templates up to the limit and scales larger ones down to it', () => {
    assert.deepEqual(templateSize({ width: 868, height: 600 }), { width: 868, height: 600 });
    assert.deepEqual(templateSize({ width: 4096, height: 4096 }), { width: 4096, height: 4096 });
    const big = templateSize({ width: 8000, height: 6000 });
    assert.ok(big.width * big.height <= MAX_TEMPLATE_PIXELS);
    assert.ok(Math.abs(big.width / big.height - 4 / 3) < 0.001);
  });
});
