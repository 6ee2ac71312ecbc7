// The default output colour space: without `color_space` the output keeps the input's colour space (CMYK
// with its profile, wide-gamut RGB with its profile, greyscale), on both runner paths.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { ImageOperations, ImageOutputOptions } from '../../src/contract/types.js';
import { ValidationError } from '../../src/errors.js';
import { CMYK_PROFILES, cmykProfilePath } from '../../src/pipeline/color-profiles.js';
import { classifyInputColour, probeInput } from '../../src/pipeline/decode.js';
import { parsePadding, planPadding } from '../../src/pipeline/geometry.js';
import { iccColourSpace, iccDescription, isSrgbProfile } from '../../src/pipeline/icc.js';
import { planOutput, resolveOutput } from '../../src/pipeline/output.js';
import { runEdit } from '../../src/pipeline/runner.js';
import { LIMITS, near, photo, pixels, solid, wrap } from './helpers.js';

const ISO_COATED = cmykProfilePath('ISO_Coated');
const ISO_COATED_ICC = readFileSync(ISO_COATED);

async function edit(input: Buffer, operations: ImageOperations, output: ImageOutputOptions = {}) {
  return runEdit({ input, operations, output, limits: LIMITS });
}

async function meta(data: Buffer) {
  return sharp(data).metadata();
}

/** The ink values as stored in a CMYK file, without any conversion through its profile. */
async function storedCmyk(data: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data: cmyk, info } = await sharp(data)
    .pipelineColourspace('cmyk')
    .toColourspace('cmyk')
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  return { data: cmyk, width: info.width, height: info.height };
}

/** The embedded profile of a built-in libvips profile name, as sharp writes it. */
async function builtinIcc(name: 'srgb' | 'p3' | 'cmyk'): Promise<Buffer> {
  const out = await solid(4, 4, '#808080').withIccProfile(name).tiff().toBuffer();
  const icc = (await meta(out)).icc;
  assert.ok(icc, 'expected: icc');
  return icc;
}

/** Mean absolute difference per channel of two equally sized 8-bit buffers. */
function meanDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** The image as sRGB pixels (through its embedded profile, as any colour-managed viewer shows it). */
async function asSrgb(data: Buffer, width?: number, height?: number): Promise<Buffer> {
  let image = sharp(data).toColourspace('srgb');
  if (width && height) image = image.resize(width, height, { fit: 'fill' });
  return image.removeAlpha().raw().toBuffer();
}

/** Pixels as stored, not converted through the embedded profile (which `pixels` does). */
async function storedPixels(data: Buffer) {
  const { data: raw, info } = await sharp(data).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
  return wrap(raw, info.width, info.height, info.channels);
}

/** Adds an EXIF Orientation tag (APP1 right after SOI) to a JPEG without touching anything else. */
function withOrientation(jpeg: Buffer, orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4); // first IFD
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  tiff.writeUInt32BE(0, 22); // no next IFD
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

/** Embeds `icc` as-is in a JPEG (one APP2 ICC_PROFILE segment after SOI), whatever its content. */
function withIccSegment(jpeg: Buffer, icc: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([1, 1]), icc]);
  const header = Buffer.from([0xff, 0xe2, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

let fruits: Buffer; // 256×240 sRGB PNG
let cmykTagged: Buffer; // fruits separated through ISO Coated v2, profile embedded
let cmykUntagged: Buffer; // fruits separated through libvips' built-in CMYK profile, no profile embedded
let pureK: Buffer; // a tagged CMYK JPEG with ink only on the K plate
let p3Red: Buffer; // Display P3-tagged PNG: P3's own pure red in the left half (outside sRGB), grey right
let p3Icc: Buffer;

before(async () => {
  fruits = await sharp(photo('fruits.jpg')).resize(256, 240).png().toBuffer();
  cmykTagged = await sharp(fruits).withIccProfile(ISO_COATED).jpeg({ quality: 95 }).toBuffer();
  cmykUntagged = await sharp(fruits).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  // Keep the separation as stored, then clear C, M and Y: a black-only separation no RGB→CMYK conversion
  // would produce (every profile here adds CMY under dark greys).
  pureK = await sharp(cmykTagged)
    .pipelineColourspace('cmyk')
    .toColourspace('cmyk')
    .keepIccProfile()
    .linear([0, 0, 0, 1], [0, 0, 0, 0])
    .jpeg({ quality: 95 })
    .toBuffer();
  // sRGB red converted to P3 is about (234, 51, 35). Composited onto the stored values (the profile kept,
  // nothing converted), (255, 0, 0) is P3's own red, which sRGB cannot show.
  const halves = await solid(64, 32, '#808080')
    .composite([{ input: await solid(32, 32, '#ff0000').png().toBuffer(), left: 0, top: 0 }])
    .png()
    .toBuffer();
  const p3 = await sharp(halves).withIccProfile('p3').png().toBuffer();
  p3Icc = (await meta(p3)).icc!;
  const red = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < red.length; i += 3) red[i] = 255;
  p3Red = await sharp(p3)
    .keepIccProfile()
    .composite([{ input: red, raw: { width: 32, height: 32, channels: 3 }, left: 0, top: 0 }])
    .removeAlpha()
    .png()
    .toBuffer();
});

describe('ICC profile facts', () => {
  it('tells sRGB from wider RGB profiles and reads descriptions', async () => {
    const srgb = await builtinIcc('srgb');
    assert.equal(iccColourSpace(srgb), 'RGB');
    assert.equal(isSrgbProfile(srgb), true);
    assert.equal(isSrgbProfile(p3Icc), false);
    assert.match(iccDescription(p3Icc) ?? '', /P3/);
    assert.equal(iccColourSpace(ISO_COATED_ICC), 'CMYK');
    assert.equal(isSrgbProfile(ISO_COATED_ICC), false);
    for (const profile of Object.values(CMYK_PROFILES)) {
      assert.equal(iccDescription(readFileSync(cmykProfilePath(profile.name))), profile.description);
    }
    assert.equal(iccColourSpace(randomBytes(300)), 'other');
    assert.equal(iccDescription(Buffer.alloc(10)), undefined);
  });

  it('classifies inputs by their pixels and profile', async () => {
    assert.deepEqual((await probeInput(cmykTagged, LIMITS)).colour, { space: 'cmyk', icc: ISO_COATED_ICC });
    assert.deepEqual((await probeInput(cmykUntagged, LIMITS)).colour, { space: 'cmyk' });
    assert.deepEqual((await probeInput(p3Red, LIMITS)).colour, { space: 'rgb', icc: p3Icc });
    const srgbTagged = await sharp(fruits).withIccProfile('srgb').jpeg().toBuffer();
    assert.deepEqual((await probeInput(srgbTagged, LIMITS)).colour, { space: 'rgb' });
    assert.deepEqual((await probeInput(fruits, LIMITS)).colour, { space: 'rgb' });
    const grey = await sharp(fruits).toColourspace('b-w').png().toBuffer();
    assert.deepEqual((await probeInput(grey, LIMITS)).colour, { space: 'grey' });
    // A profile that does not describe the pixels is ignored.
    assert.deepEqual(classifyInputColour('cmyk', p3Icc), { space: 'cmyk' });
    assert.deepEqual(classifyInputColour('srgb', ISO_COATED_ICC), { space: 'rgb' });
  });
});

describe('planOutput', () => {
  const cmyk = { space: 'cmyk', icc: ISO_COATED_ICC } as const;

  it('keeps CMYK for JPEG and TIFF, falls back to sRGB with its profile elsewhere', () => {
    for (const format of ['jpeg', 'tiff'] as const) {
      const plan = planOutput(resolveOutput({ format }), cmyk);
      assert.deepEqual(plan.colour, { space: 'cmyk', source: { kind: 'input', icc: ISO_COATED_ICC } });
      assert.equal(plan.supportsAlpha, false, format);
      assert.deepEqual(planOutput(resolveOutput({ format }), { space: 'cmyk' }).colour, {
        space: 'cmyk',
        source: { kind: 'untagged' },
      });
    }
    for (const format of ['png', 'webp', 'avif'] as const) {
      const plan = planOutput(resolveOutput({ format }), cmyk);
      assert.deepEqual(plan.colour, { space: 'srgb', embed: true });
      assert.equal(plan.supportsAlpha, true, format);
    }
  });

  it('resolves alpha support after the colour space: lossless TIFF of a CMYK input has none', () => {
    // The request alone allows alpha; the CMYK input settles it.
    assert.equal(resolveOutput({ format: 'tiff' }).supportsAlpha, true);
    assert.equal(planOutput(resolveOutput({ format: 'tiff' }), cmyk).supportsAlpha, false);
    assert.equal(planOutput(resolveOutput({ format: 'tiff' }), { space: 'rgb', icc: p3Icc }).supportsAlpha, true);
    assert.equal(planOutput(resolveOutput({ format: 'tiff' }), { space: 'grey' }).supportsAlpha, true);
  });

  it('keeps wide-gamut RGB and greyscale, and gives plain sRGB otherwise', () => {
    assert.deepEqual(planOutput(resolveOutput({ format: 'webp' }), { space: 'rgb', icc: p3Icc }).colour, {
      space: 'rgb',
      icc: p3Icc,
    });
    assert.deepEqual(planOutput(resolveOutput({}), { space: 'grey' }).colour, { space: 'grey' });
    assert.deepEqual(planOutput(resolveOutput({}), { space: 'rgb' }).colour, { space: 'srgb', embed: false });
  });

  it('lets an explicit colour space win whatever the input', () => {
    for (const input of [cmyk, { space: 'rgb', icc: p3Icc } as const, { space: 'grey' } as const]) {
      assert.deepEqual(planOutput(resolveOutput({ metadata: { color_space: 'RGB' } }), input).colour, {
        space: 'srgb',
        embed: true,
      });
      assert.deepEqual(
        planOutput(resolveOutput({ metadata: { color_space: { type: 'CMYK', color_profile: 'ISO_Uncoated' } } }), input)
          .colour,
        { space: 'cmyk', source: { kind: 'named', name: 'ISO_Uncoated' } },
      );
    }
  });
});

describe('runEdit default colour space: CMYK inputs', () => {
  it('resize only (single pass) keeps CMYK, the input profile byte for byte, and the inks', async () => {
    const r = await edit(pureK, { resizing: { width: 128 } });
    assert.equal(r.profiling.path, 'single_pass');
    assert.equal(r.profiling.color_values, 'kept');
    assert.equal(r.profiling.color_space, 'cmyk');
    assert.equal(r.profiling.icc_profile, CMYK_PROFILES.ISO_Coated.description);
    const m = await meta(r.data);
    assert.equal(m.format, 'jpeg');
    assert.equal(m.space, 'cmyk');
    assert.deepEqual([m.width, m.height], [128, 120]);
    assert.ok(m.icc, 'expected: m.icc');
    assert.ok(m.icc.equals(ISO_COATED_ICC), 'the embedded profile is not the input profile');
    // The black-only separation survives: no conversion through sRGB re-separated it.
    const inks = await storedCmyk(r.data);
    let cmy = 0;
    let k = 0;
    for (let i = 0; i < inks.data.length; i += 4) {
      cmy = Math.max(cmy, inks.data[i]!, inks.data[i + 1]!, inks.data[i + 2]!);
      k = Math.max(k, inks.data[i + 3]!);
    }
    assert.ok(cmy <= 8, `C, M or Y ink up to ${cmy}`);
    assert.ok(k > 100, `K ink only up to ${k}`);
    // And the inks are the input's, resized.
    const expected = await sharp(pureK).pipelineColourspace('cmyk').toColourspace('cmyk').resize(128, 120).raw().toBuffer();
    assert.ok(meanDiff(inks.data, expected) < 2, `ink difference ${meanDiff(inks.data, expected)}`);
  });

  it('staged path (adjustments) converts back into the input profile and embeds it', async () => {
    const plain = await edit(cmykTagged, { padding: '10%' });
    const brighter = await edit(cmykTagged, { padding: '10%', adjustments: { exposure: 40 } });
    for (const r of [plain, brighter]) {
      assert.equal(r.profiling.path, 'staged');
      assert.equal(r.profiling.color_values, 'via_srgb');
      const m = await meta(r.data);
      assert.equal(m.space, 'cmyk');
      assert.equal(m.channels, 4);
      assert.ok(m.icc?.equals(ISO_COATED_ICC), 'the embedded profile is not the input profile');
    }
    // Viewed through the profile, the padded picture is the input picture, and the margin is white paper.
    const plan = planPadding({ width: 256, height: 240 }, parsePadding('10%'));
    assert.ok(plan, 'expected: plan');
    const { content, offset } = plan;
    const shown = await sharp(await asSrgb(plain.data), { raw: { width: 256, height: 240, channels: 3 } })
      .extract({ left: offset.left, top: offset.top, width: content.width, height: content.height })
      .raw()
      .toBuffer();
    const expected = await sharp(cmykTagged).resize(content.width, content.height, { fit: 'fill' }).toColourspace('srgb').raw().toBuffer();
    assert.ok(meanDiff(shown, expected) < 6, `picture differs by ${meanDiff(shown, expected)}`);
    const px = await pixels(Buffer.from(await sharp(plain.data).toColourspace('srgb').png().toBuffer()));
    assert.ok(near(px.at(3, 3), [255, 255, 255], 4), `margin ${px.at(3, 3)}`);
    // The adjustment happened: the exposed version is brighter.
    const mean = async (b: Buffer): Promise<number> => (await asSrgb(b)).reduce((sum, v) => sum + v, 0) / (256 * 240 * 3);
    const [lit, unlit] = [await mean(brighter.data), await mean(plain.data)];
    assert.ok(lit > unlit + 10, `mean ${unlit} → ${lit}`);
  });

  it('keeps CMYK for TIFF, lossless and JPEG-compressed, on both paths', async () => {
    for (const format of [{ type: 'tiff' as const }, { type: 'tiff' as const, compression: 'lossy' as const }]) {
      for (const operations of [{ resizing: { width: 100 } }, { resizing: { width: 100 }, adjustments: { sharpness: 30 } }]) {
        const r = await edit(cmykTagged, operations, { format });
        const m = await meta(r.data);
        assert.equal(m.format, 'tiff');
        assert.equal(m.space, 'cmyk', JSON.stringify([format, operations]));
        assert.ok(m.icc?.equals(ISO_COATED_ICC), 'expected: m.icc?.equals(ISO_COATED_ICC)');
        assert.equal(m.hasAlpha, false);
      }
    }
  });

  it('a CMYK TIFF input with a transparent background request stays CMYK without alpha', async () => {
    const tiff = await sharp(fruits).withIccProfile(ISO_COATED).tiff().toBuffer();
    const r = await edit(tiff, { padding: '10px', background: { color: 'transparent' } }, { format: 'tiff' });
    const m = await meta(r.data);
    assert.equal(m.space, 'cmyk');
    assert.equal(m.hasAlpha, false);
    assert.equal(r.profiling.fill, '#ffffffff');
  });

  it('a canvas fill on a CMYK input goes through sRGB and still comes back in the input profile', async () => {
    const r = await edit(cmykTagged, { resizing: { width: 300, height: 300, fit: 'canvas' }, background: { color: '#ff0000' } });
    assert.equal(r.profiling.path, 'single_pass');
    assert.equal(r.profiling.color_values, 'via_srgb');
    const m = await meta(r.data);
    assert.equal(m.space, 'cmyk');
    assert.ok(m.icc?.equals(ISO_COATED_ICC), 'expected: m.icc?.equals(ISO_COATED_ICC)');
    // The red margin is the print profile's red, read back through it.
    const px = await pixels(await sharp(r.data).toColourspace('srgb').png().toBuffer());
    const red = px.at(150, 5);
    assert.ok(red[0]! > 200 && red[1]! < 80 && red[2]! < 80, `margin ${red}`);
  });

  it('keeps the EXIF orientation on the CMYK single pass', async () => {
    const rotated = withOrientation(cmykTagged, 6);
    const r = await edit(rotated, { resizing: { width: 120 } });
    assert.equal(r.profiling.color_values, 'kept');
    assert.deepEqual([r.input.width, r.input.height], [240, 256]);
    const m = await meta(r.data);
    assert.deepEqual([m.width, m.height], [120, 128]);
    assert.equal(m.space, 'cmyk');
    const upright = await sharp(fruits).rotate(90).resize(120, 128, { fit: 'fill' }).raw().toBuffer();
    assert.ok(meanDiff(await asSrgb(r.data), upright) < 8, `differs by ${meanDiff(await asSrgb(r.data), upright)}`);
  });

  it('an untagged CMYK input stays untagged CMYK, read and written through the same built-in profile', async () => {
    for (const operations of [{ resizing: { width: 128 } }, { resizing: { width: 128 }, adjustments: { sharpness: 10 } }]) {
      const r = await edit(cmykUntagged, operations);
      const staged = operations.adjustments !== undefined;
      assert.equal(r.profiling.path, staged ? 'staged' : 'single_pass');
      assert.equal(r.profiling.color_values, staged ? 'via_srgb' : 'kept');
      const m = await meta(r.data);
      assert.equal(m.space, 'cmyk');
      assert.equal(m.icc, undefined);
      assert.equal(r.profiling.icc_profile, undefined);
      const shown = await asSrgb(r.data);
      const expected = await sharp(cmykUntagged).resize(128, 120).toColourspace('srgb').raw().toBuffer();
      // libvips' built-in profile round-trips poorly (sRGB → CMYK → sRGB moves a photo by ~9 levels on
      // average), which only the staged path pays; the single pass keeps the inks.
      const tolerance = staged ? 12 : 3;
      assert.ok(meanDiff(shown, expected) < tolerance, `${JSON.stringify(operations)}: differs by ${meanDiff(shown, expected)}`);
    }
  });

  it('an embedded CMYK profile libvips cannot use is treated like no profile, never as an error', async () => {
    // A CMYK header with an empty tag table: recognisable, but nothing to convert with.
    const broken = Buffer.alloc(132);
    ISO_COATED_ICC.copy(broken, 0, 0, 128);
    broken.writeUInt32BE(132, 0);
    broken.writeUInt32BE(0, 128);
    const input = withIccSegment(cmykUntagged, broken);
    assert.deepEqual((await probeInput(input, LIMITS)).colour, { space: 'cmyk', icc: broken });
    // Single pass: the file's inks and its profile are kept as they came.
    const kept = await edit(input, { resizing: { width: 128 } });
    assert.ok((await meta(kept.data)).icc?.equals(broken), 'the profile was not kept');
    // Staged: libvips read the pixels through its built-in profile, so they are written back that way.
    const staged = await edit(input, { resizing: { width: 128 }, adjustments: { sharpness: 10 } });
    const m = await meta(staged.data);
    assert.equal(m.space, 'cmyk');
    assert.equal(m.icc, undefined);
    assert.equal(staged.profiling.icc_profile, undefined);
    assert.equal(staged.profiling.color_space, 'cmyk');
  });

  for (const format of ['png', 'webp', 'avif'] as const) {
    it(`${format} output of a CMYK input is sRGB with the sRGB profile`, async () => {
      const r = await edit(cmykTagged, { resizing: { width: 128 } }, { format });
      const m = await meta(r.data);
      assert.equal(m.space, 'srgb');
      assert.equal(m.channels, 3);
      assert.ok(m.icc, 'expected: m.icc');
      assert.equal(isSrgbProfile(m.icc), true);
      assert.equal(r.profiling.color_space, 'srgb');
      const expected = await sharp(cmykTagged).resize(128, 120).toColourspace('srgb').raw().toBuffer();
      assert.ok(meanDiff(await asSrgb(r.data), expected) < 6, `${format} differs by ${meanDiff(await asSrgb(r.data), expected)}`);
    });
  }

  it('explicit RGB and CMYK keep their meaning for a CMYK input', async () => {
    const rgb = await edit(cmykTagged, {}, { metadata: { color_space: 'RGB' } });
    const rm = await meta(rgb.data);
    assert.equal(rm.space, 'srgb');
    assert.ok(rm.icc && isSrgbProfile(rm.icc), 'expected: rm.icc && isSrgbProfile(rm.icc)');
    const other = await edit(cmykTagged, { resizing: { width: 100 } }, { metadata: { color_space: { type: 'CMYK', color_profile: 'ISO_Uncoated' } } });
    const om = await meta(other.data);
    assert.equal(om.space, 'cmyk');
    assert.equal(iccDescription(om.icc!), CMYK_PROFILES.ISO_Uncoated.description);
    assert.equal(other.profiling.color_values, undefined);
  });
});

describe('runEdit default colour space: RGB and greyscale inputs', () => {
  it('keeps a Display P3 profile and its out-of-sRGB red on the single pass', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'tiff'] as const) {
      const r = await edit(p3Red, { resizing: { width: 32 } }, { format });
      assert.equal(r.profiling.color_values, 'kept');
      assert.equal(r.profiling.color_space, 'rgb');
      const m = await meta(r.data);
      assert.ok(m.icc?.equals(p3Icc), `${format}: the P3 profile was not kept`);
      const px = await storedPixels(r.data);
      assert.ok(near(px.at(4, 8), [255, 0, 0], format === 'png' || format === 'tiff' ? 0 : 12), `${format}: ${px.at(4, 8)}`);
      assert.ok(near(px.at(28, 8), [128, 128, 128], 3), `${format}: ${px.at(28, 8)}`);
    }
  });

  it('converts back into the P3 profile on the staged path (colours limited to sRGB there)', async () => {
    const r = await edit(p3Red, { padding: '2px', adjustments: { sharpness: 10 } });
    assert.equal(r.profiling.path, 'staged');
    assert.equal(r.profiling.color_values, 'via_srgb');
    const m = await meta(r.data);
    assert.ok(m.icc?.equals(p3Icc), 'expected: m.icc?.equals(p3Icc)');
    // sRGB's red, expressed in P3.
    const px = await storedPixels(r.data);
    assert.ok(near(px.at(10, 16), [234, 51, 35], 8), `${px.at(10, 16)}`);
    // Grey stays the same grey in either space.
    assert.ok(near(px.at(50, 16), [128, 128, 128], 2), `${px.at(50, 16)}`);
  });

  it('an sRGB-tagged or untagged input gives untagged sRGB, as before', async () => {
    const tagged = await sharp(fruits).withIccProfile('srgb').jpeg().toBuffer();
    for (const input of [tagged, fruits]) {
      for (const operations of [{ resizing: { width: 100 } }, { resizing: { width: 100 }, adjustments: { exposure: 10 } }]) {
        const r = await edit(input, operations, { format: 'png' });
        const m = await meta(r.data);
        assert.equal(m.space, 'srgb');
        assert.equal(m.icc, undefined);
        assert.equal(r.profiling.color_values, undefined);
      }
    }
  });

  it('keeps a greyscale input greyscale on both paths unless a coloured background is asked for', async () => {
    const grey = await sharp(fruits).toColourspace('b-w').jpeg().toBuffer();
    for (const [operations, format] of [
      [{ resizing: { width: 100 } }, 'jpeg'],
      [{ resizing: { width: 100 } }, 'png'],
      [{ padding: '5%', adjustments: { contrast: 30 } }, 'jpeg'],
      [{ resizing: { width: 300, height: 300, fit: 'canvas' }, background: { color: '#404040' } }, 'png'],
    ] as const) {
      const r = await edit(grey, operations, { format });
      const m = await meta(r.data);
      assert.equal(m.channels, 1, JSON.stringify(operations));
      assert.equal(m.space, 'b-w');
      assert.equal(r.profiling.color_space, 'grey');
    }
    const canvas = { resizing: { width: 300, height: 300, fit: 'canvas' as const } };
    // (read back as RGB by the helper)
    const dark = await pixels((await edit(grey, { ...canvas, background: { color: '#404040' } }, { format: 'png' })).data);
    assert.deepEqual(dark.at(150, 2), [64, 64, 64]);
    // A coloured fill keeps its colour, on both paths, in an RGB output.
    for (const operations of [canvas, { ...canvas, padding: '5%' }]) {
      const red = await edit(grey, { ...operations, background: { color: '#ff0000' } }, { format: 'png' });
      assert.equal(red.profiling.color_space, 'srgb');
      const p = await pixels(red.data);
      assert.equal(p.channels, 3);
      assert.deepEqual(p.at(150, 2), [255, 0, 0], JSON.stringify(operations));
      assert.ok(near(p.at(150, 150), [p.at(150, 150)[0]!, p.at(150, 150)[0]!, p.at(150, 150)[0]!], 1), 'the picture stays grey');
    }
    // Transparency of a grey+alpha input flattened onto a colour for JPEG.
    const greyAlpha = await sharp(fruits).ensureAlpha(0).toColourspace('b-w').png().toBuffer();
    const flat = await pixels((await edit(greyAlpha, { background: { color: '#00ff00' } }, { format: 'jpeg' })).data);
    assert.ok(near(flat.at(10, 10), [0, 255, 0], 6), `flattened onto ${flat.at(10, 10)}`);
  });
});

describe('checkEditRequest still refuses from the request alone', () => {
  it('refuses CMYK for PNG before reading the input', async () => {
    await assert.rejects(
      edit(randomBytes(100), {}, { format: 'png', metadata: { color_space: 'CMYK' } }),
      (err: unknown) => err instanceof ValidationError && err.details.field === 'output.metadata.color_space',
    );
  });
});
