import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/errors.js';
import { applyFill, parseBackgroundColour, resolveFill, TRANSPARENT, WHITE } from '../../src/pipeline/background.js';
import { wrap } from './helpers.js';

describe('parseBackgroundColour', () => {
  it('parses #rgb, #rrggbb, #rrggbbaa in any case, and transparent', () => {
    assert.deepEqual(parseBackgroundColour('#f80'), { kind: 'colour', rgba: { r: 255, g: 136, b: 0, alpha: 255 } });
    assert.deepEqual(parseBackgroundColour('#FF8800'), { kind: 'colour', rgba: { r: 255, g: 136, b: 0, alpha: 255 } });
    assert.deepEqual(parseBackgroundColour('#0a0B0c80'), { kind: 'colour', rgba: { r: 10, g: 11, b: 12, alpha: 128 } });
    assert.deepEqual(parseBackgroundColour('transparent'), { kind: 'transparent' });
    assert.deepEqual(parseBackgroundColour('Transparent'), { kind: 'transparent' });
  });

  it('refuses anything else at operations.background.color', () => {
    for (const bad of ['red', '#ff', '#ffff', '#fffff', '#gggggg', 'ff0000', '#ff00001', '', 0xffffff, null]) {
      assert.throws(
        () => parseBackgroundColour(bad),
        (err: unknown) =>
          err instanceof ValidationError &&
          err.details.field === 'operations.background.color' &&
          /#rgb/.test(err.message),
        String(bad),
      );
    }
  });
});

describe('resolveFill', () => {
  it('defaults to white, or transparent for inputs with alpha going to formats with alpha', () => {
    assert.deepEqual(resolveFill(undefined, false, true), WHITE);
    assert.deepEqual(resolveFill(undefined, true, true), TRANSPARENT);
    assert.deepEqual(resolveFill(undefined, true, false), WHITE);
  });

  it('turns transparent into white when the output cannot carry alpha', () => {
    assert.deepEqual(resolveFill({ kind: 'transparent' }, false, true), TRANSPARENT);
    assert.deepEqual(resolveFill({ kind: 'transparent' }, true, false), WHITE);
  });

  it('keeps translucent colours for alpha outputs and mixes them over white otherwise', () => {
    const half = { r: 0, g: 0, b: 255, alpha: 128 };
    assert.deepEqual(resolveFill({ kind: 'colour', rgba: half }, false, true), half);
    assert.deepEqual(resolveFill({ kind: 'colour', rgba: half }, false, false), { r: 127, g: 127, b: 255, alpha: 255 });
  });
});

describe('applyFill', () => {
  // Two pixels: opaque red, fully transparent.
  const img = { data: Buffer.from([255, 0, 0, 255, 0, 0, 0, 0]), width: 2, height: 1, channels: 4 as const };

  it('flattens onto an opaque colour, dropping alpha', async () => {
    const out = await applyFill(img, { r: 0, g: 255, b: 0, alpha: 255 });
    assert.equal(out.channels, 3);
    const p = wrap(out.data, 2, 1, 3);
    assert.deepEqual(p.at(0, 0), [255, 0, 0]);
    assert.deepEqual(p.at(1, 0), [0, 255, 0]);
  });

  it('keeps alpha for a transparent fill', async () => {
    const out = await applyFill(img, TRANSPARENT);
    assert.equal(out.channels, 4);
    assert.deepEqual(wrap(out.data, 2, 1, 4).at(1, 0)[3], 0);
  });

  it('composites over a translucent colour', async () => {
    const out = await applyFill(img, { r: 0, g: 0, b: 255, alpha: 128 });
    assert.equal(out.channels, 4);
    const p = wrap(out.data, 2, 1, 4);
    assert.deepEqual(p.at(0, 0), [255, 0, 0, 255]);
    const under = p.at(1, 0);
    assert.deepEqual(under.slice(0, 3), [0, 0, 255]);
    assert.ok(Math.abs((under[3] as number) - 128) <= 1, `alpha ${under[3]}`);
  });

  it('leaves images without alpha untouched', async () => {
    const rgb = { data: Buffer.from([1, 2, 3]), width: 1, height: 1, channels: 3 as const };
    assert.equal(await applyFill(rgb, { r: 9, g: 9, b: 9, alpha: 255 }), rgb);
  });
});
