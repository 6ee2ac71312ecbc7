import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { before, describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import type { CmykProfileName, ImageOutputOptions } from '../../src/contract/types.js';
import { ValidationError } from '../../src/errors.js';
import { CMYK_PROFILES, cmykProfilePath } from '../../src/pipeline/color-profiles.js';
import { encodeOutput, planOutput, resolveOutput } from '../../src/pipeline/output.js';

const FIXTURES = new URL('../fixtures/debian/', import.meta.url);
const fixture = (name: string): string => new URL(name, FIXTURES).pathname;

interface Raw {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

async function rawOf(input: Buffer | string): Promise<Raw> {
  const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function fromRaw(raw: Raw): Sharp {
  return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels as 3 | 4 } });
}

function psnr(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** The output as planned for an untagged sRGB input, which is what raw pixels are. */
function srgbPlan(output: ImageOutputOptions) {
  return planOutput(resolveOutput(output), { space: 'rgb' });
}

async function encode(source: Raw, output: ImageOutputOptions): Promise<{ data: Buffer; info: Awaited<ReturnType<typeof encodeOutput>>['info'] }> {
  return encodeOutput(fromRaw(source), srgbPlan(output));
}

/** The profile description ('desc' tag, ICC v2 text or v4 multi-localised) of an ICC profile. */
function iccDescription(icc: Buffer): string {
  const count = icc.readUInt32BE(128);
  for (let i = 0; i < count; i++) {
    const entry = 132 + i * 12;
    if (icc.toString('ascii', entry, entry + 4) !== 'desc') continue;
    const offset = icc.readUInt32BE(entry + 4);
    const type = icc.toString('ascii', offset, offset + 4);
    if (type === 'desc') {
      const length = icc.readUInt32BE(offset + 8);
      return icc.toString('latin1', offset + 12, offset + 12 + length - 1);
    }
    if (type === 'mluc') {
      const length = icc.readUInt32BE(offset + 20);
      const start = offset + icc.readUInt32BE(offset + 24);
      return Buffer.from(icc.subarray(start, start + length)).swap16().toString('utf16le');
    }
  }
  throw new Error('ICC profile without a description');
}

/** Reads one SHORT/LONG/RATIONAL tag from the first IFD of a TIFF structure starting at `base`. */
function tiffTag(buf: Buffer, base: number, tag: number): number | undefined {
  const le = buf.toString('ascii', base, base + 2) === 'II';
  const u16 = (o: number): number => (le ? buf.readUInt16LE(base + o) : buf.readUInt16BE(base + o));
  const u32 = (o: number): number => (le ? buf.readUInt32LE(base + o) : buf.readUInt32BE(base + o));
  const ifd = u32(4);
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const e = ifd + 2 + i * 12;
    if (u16(e) !== tag) continue;
    const type = u16(e + 2);
    if (type === 3) return u16(e + 8);
    if (type === 4) return u32(e + 8);
    if (type === 5) {
      const at = u32(e + 8);
      return u32(at) / u32(at + 4);
    }
  }
  return undefined;
}

/** The ink values as stored in a CMYK file, without any conversion through its profile. */
async function storedCmyk(data: Buffer): Promise<Buffer> {
  const { data: cmyk, info } = await sharp(data)
    .pipelineColourspace('cmyk')
    .toColourspace('cmyk')
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  return cmyk;
}

/** Largest C+M+Y+K of any pixel, in percent. */
function maxTotalInk(cmyk: Buffer): number {
  let max = 0;
  for (let i = 0; i < cmyk.length; i += 4) max = Math.max(max, cmyk[i]! + cmyk[i + 1]! + cmyk[i + 2]! + cmyk[i + 3]!);
  return max / 2.55;
}

/** XResolution from the EXIF block sharp reports (which starts with "Exif\0\0" and a TIFF header). */
function exifXResolution(exif: Buffer | undefined): number | undefined {
  if (!exif) return undefined;
  const base = exif.toString('ascii', 0, 4) === 'Exif' ? 6 : 0;
  return tiffTag(exif, base, 0x011a);
}

let photo: Raw;
let small: Raw;

before(async () => {
  // 1000×667, the size the timing figure in docs refers to.
  photo = await rawOf(await sharp(fixture('building.jpg')).resize(1000, 667, { fit: 'fill' }).png().toBuffer());
  small = await rawOf(await sharp(fixture('fruits.jpg')).resize(160, 150).png().toBuffer());
});

describe('resolveOutput', () => {
  it('defaults to progressive JPEG at quality 85 without alpha', () => {
    const out = resolveOutput({});
    assert.deepEqual(out, {
      format: 'jpeg',
      supportsAlpha: false,
      encoder: { format: 'jpeg', quality: 85, progressive: true },
      colorSpace: { type: 'default' },
    });
  });

  it('applies each format default', () => {
    assert.deepEqual(resolveOutput({ format: 'png' }).encoder, { format: 'png', compression: 'optimal' });
    assert.deepEqual(resolveOutput({ format: 'webp' }).encoder, { format: 'webp', lossless: false, quality: 75 });
    assert.deepEqual(resolveOutput({ format: { type: 'avif' } }).encoder, { format: 'avif', lossless: false, quality: 50 });
    assert.deepEqual(resolveOutput({ format: 'tiff' }).encoder, { format: 'tiff', lossless: true, quality: 75 });
    assert.deepEqual(resolveOutput({ format: { type: 'tiff', compression: 'lossy' } }).encoder, {
      format: 'tiff',
      lossless: false,
      quality: 75,
    });
    assert.deepEqual(resolveOutput({ format: { type: 'jpeg', quality: 40, progressive: false } }).encoder, {
      format: 'jpeg',
      quality: 40,
      progressive: false,
    });
    assert.deepEqual(resolveOutput({ format: { type: 'webp', compression: { type: 'lossy', quality: 20 } } }).encoder, {
      format: 'webp',
      lossless: false,
      quality: 20,
    });
    assert.equal(resolveOutput({ format: { type: 'webp', compression: { type: 'lossless' } } }).encoder.format, 'webp');
    assert.deepEqual(resolveOutput({ format: { type: 'avif', compression: 'lossless' } }).encoder, {
      format: 'avif',
      lossless: true,
      quality: 50,
    });
  });

  it('knows which outputs can hold alpha', () => {
    assert.equal(resolveOutput({ format: 'png' }).supportsAlpha, true);
    assert.equal(resolveOutput({ format: 'webp' }).supportsAlpha, true);
    assert.equal(resolveOutput({ format: 'avif' }).supportsAlpha, true);
    assert.equal(resolveOutput({ format: 'tiff' }).supportsAlpha, true);
    assert.equal(resolveOutput({ format: { type: 'tiff', compression: 'lossy' } }).supportsAlpha, false);
    assert.equal(resolveOutput({ format: 'tiff', metadata: { color_space: 'CMYK' } }).supportsAlpha, false);
  });

  it('keeps destination and dpi, and resolves colour spaces with the schema default profile', () => {
    const out = resolveOutput({ destination: 'storage://bucket/a.jpg', metadata: { dpi: 300, color_space: 'CMYK' } });
    assert.equal(out.destination, 'storage://bucket/a.jpg');
    assert.equal(out.dpi, 300);
    assert.deepEqual(out.colorSpace, { type: 'CMYK', profile: 'USWeb_Coated' });
    assert.deepEqual(resolveOutput({ metadata: { color_space: { type: 'CMYK', color_profile: 'ISO_Coated' } } }).colorSpace, {
      type: 'CMYK',
      profile: 'ISO_Coated',
    });
    assert.deepEqual(resolveOutput({ format: 'png', metadata: { color_space: { type: 'RGB' } } }).colorSpace, { type: 'RGB' });
    assert.deepEqual(resolveOutput({ format: 'webp', metadata: { color_space: 'RGB' } }).colorSpace, { type: 'RGB' });
  });

  it('refuses CMYK for formats that cannot store it, naming the field', () => {
    for (const format of ['png', 'webp', 'avif'] as const) {
      assert.throws(
        () => resolveOutput({ format, metadata: { color_space: { type: 'CMYK', color_profile: 'ISO_Uncoated' } } }),
        (err: unknown) =>
          err instanceof ValidationError &&
          err.status === 422 &&
          err.details.field === 'output.metadata.color_space' &&
          /jpeg or tiff/.test(err.message),
      );
    }
  });

  it('refuses a DPI no file can store', () => {
    for (const dpi of [0, -72, 1.5, 70000]) {
      assert.throws(
        () => resolveOutput({ metadata: { dpi } }),
        (err: unknown) => err instanceof ValidationError && err.details.field === 'output.metadata.dpi',
      );
    }
  });
});

describe('encodeOutput formats', () => {
  const cases: [ImageOutputOptions['format'], string, string][] = [
    ['jpeg', 'jpeg', 'image/jpeg'],
    ['png', 'png', 'image/png'],
    ['webp', 'webp', 'image/webp'],
    ['avif', 'heif', 'image/avif'],
    ['tiff', 'tiff', 'image/tiff'],
  ];
  for (const [format, sharpFormat, mime] of cases) {
    it(`writes ${String(format)} with the real size in its description`, async () => {
      const { data, info } = await encode(small, { format });
      const meta = await sharp(data).metadata();
      assert.equal(meta.format, sharpFormat);
      assert.equal(meta.width, 160);
      assert.equal(meta.height, 150);
      assert.equal(info.mime, mime);
      assert.equal(info.width, 160);
      assert.equal(info.height, 150);
      assert.equal(info.ext, String(format));
      assert.equal(info.mps, 0.024);
      if (format === 'avif') assert.equal(meta.compression, 'av1');
      // Decodes to something close to the source.
      const decoded = await rawOf(data);
      assert.ok(psnr(decoded.data.subarray(0, small.data.length), small.data) > 25);
    });
  }
});

describe('encodeOutput quality and compression', () => {
  it('higher JPEG quality gives a larger file that is closer to the source', async () => {
    const low = await encode(photo, { format: { type: 'jpeg', quality: 30 } });
    const high = await encode(photo, { format: { type: 'jpeg', quality: 90 } });
    assert.ok(high.data.length > low.data.length * 1.5, `${low.data.length} → ${high.data.length} bytes`);
    const pLow = psnr((await rawOf(low.data)).data, photo.data);
    const pHigh = psnr((await rawOf(high.data)).data, photo.data);
    assert.ok(pHigh > pLow + 3, `PSNR ${pLow} → ${pHigh}`);
  });

  it('JPEG is progressive by default and baseline on request', async () => {
    const progressive = await encode(small, {});
    const baseline = await encode(small, { format: { type: 'jpeg', progressive: false } });
    assert.equal((await sharp(progressive.data).metadata()).isProgressive, true);
    assert.equal((await sharp(baseline.data).metadata()).isProgressive, false);
  });

  it('PNG compression levels trade size for time, all lossless', async () => {
    const results: Record<string, { size: number; ms: number }> = {};
    for (const compression of ['fast', 'optimal', 'best'] as const) {
      const t = performance.now();
      const { data } = await encode(photo, { format: { type: 'png', compression } });
      results[compression] = { size: data.length, ms: performance.now() - t };
      assert.deepEqual((await rawOf(data)).data, photo.data, `${compression} PNG is not lossless`);
    }
    assert.ok(results.fast!.size > results.optimal!.size * 1.2, JSON.stringify(results));
    assert.ok(results.best!.size <= results.optimal!.size, JSON.stringify(results));
    assert.ok(results.best!.ms > results.fast!.ms, JSON.stringify(results));
  });

  it('WebP and AVIF: lossless round-trips pixels exactly, lossy quality moves size', async () => {
    for (const format of ['webp', 'avif'] as const) {
      const lossless = await encode(small, { format: { type: format, compression: 'lossless' } });
      assert.deepEqual((await rawOf(lossless.data)).data, small.data, `${format} lossless changed pixels`);
      const low = await encode(small, { format: { type: format, compression: { type: 'lossy', quality: 20 } } });
      const high = await encode(small, { format: { type: format, compression: { type: 'lossy', quality: 90 } } });
      assert.ok(high.data.length > low.data.length, `${format}: ${low.data.length} → ${high.data.length}`);
      assert.ok(lossless.data.length > high.data.length);
      assert.ok(psnr((await rawOf(high.data)).data, small.data) > psnr((await rawOf(low.data)).data, small.data));
    }
  });

  it('TIFF lossless is LZW and lossy is JPEG-in-TIFF with the given quality', async () => {
    const lzw = await encode(small, { format: 'tiff' });
    assert.equal(tiffTag(lzw.data, 0, 259), 5);
    assert.deepEqual((await rawOf(lzw.data)).data, small.data);
    const jpeg = await encode(small, { format: { type: 'tiff', compression: 'lossy' } });
    assert.equal(tiffTag(jpeg.data, 0, 259), 7);
    const jpegLow = await encode(small, { format: { type: 'tiff', compression: { type: 'lossy', quality: 10 } } });
    assert.equal(tiffTag(jpegLow.data, 0, 259), 7);
    assert.ok(jpegLow.data.length < jpeg.data.length && jpeg.data.length < lzw.data.length);
  });

  it('keeps alpha where the format can hold it and flattens it where not', async () => {
    const rgba = await rawOf(
      await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 20, b: 20, alpha: 0.5 } } })
        .png()
        .toBuffer(),
    );
    for (const format of ['png', 'webp', 'avif', 'tiff'] as const) {
      const { data } = await encode(rgba, { format });
      assert.equal((await sharp(data).metadata()).hasAlpha, true, format);
    }
    const { data } = await encode(rgba, { format: 'jpeg' });
    const meta = await sharp(data).metadata();
    assert.equal(meta.hasAlpha, false);
    // Flattened on white: half-transparent red becomes light red.
    const px = (await rawOf(data)).data;
    assert.ok(px[0]! > 200 && px[1]! > 110 && px[1]! < 160);
  });
});

describe('encodeOutput metadata', () => {
  it('writes the DPI into every format', async () => {
    for (const format of ['jpeg', 'png', 'tiff'] as const) {
      const { data } = await encode(small, { format, metadata: { dpi: 300 } });
      assert.equal((await sharp(data).metadata()).density, 300, format);
    }
    for (const format of ['webp', 'avif'] as const) {
      const { data } = await encode(small, { format, metadata: { dpi: 150 } });
      const meta = await sharp(data).metadata();
      assert.equal(exifXResolution(meta.exif), 150, `${format} EXIF XResolution`);
    }
  });

  it('embeds the sRGB profile for RGB and none by default', async () => {
    const rgb = await encode(small, { format: 'png', metadata: { color_space: 'RGB' } });
    const meta = await sharp(rgb.data).metadata();
    assert.equal(meta.space, 'srgb');
    assert.ok(meta.icc);
    assert.match(iccDescription(meta.icc), /sRGB/i);
    const plain = await sharp((await encode(small, { format: 'png' })).data).metadata();
    assert.equal(plain.space, 'srgb');
    assert.equal(plain.icc, undefined);
  });

  it('ships a readable profile for every CMYK name, each with its own description', () => {
    const seen = new Set<string>();
    for (const profile of Object.values(CMYK_PROFILES)) {
      const icc = readFileSync(cmykProfilePath(profile.name));
      assert.equal(icc.toString('ascii', 16, 20), 'CMYK', profile.file);
      assert.equal(icc.toString('ascii', 12, 16), 'prtr', profile.file);
      assert.equal(iccDescription(icc), profile.description);
      seen.add(icc.toString('base64'));
    }
    assert.equal(seen.size, 4);
  });

  for (const format of ['jpeg', 'tiff'] as const) {
    it(`${format} CMYK output separates through the chosen profile and embeds it`, async () => {
      const embedded = new Map<CmykProfileName | 'default', Buffer>();
      for (const name of ['default', 'ISO_Coated', 'ISO_Uncoated', 'USWeb_Coated', 'USWeb_Uncoated'] as const) {
        const colorSpace = name === 'default' ? ('CMYK' as const) : { type: 'CMYK' as const, color_profile: name };
        const { data, info } = await encode(small, { format, metadata: { color_space: colorSpace, dpi: 300 } });
        const meta = await sharp(data).metadata();
        assert.equal(meta.space, 'cmyk');
        assert.equal(meta.channels, 4);
        assert.equal(meta.density, 300);
        assert.equal(info.width, 160);
        assert.ok(meta.icc);
        const profile = CMYK_PROFILES[name === 'default' ? 'USWeb_Coated' : name];
        assert.equal(iccDescription(meta.icc), profile.description);
        embedded.set(name, meta.icc);

        // The separation honours the profile's total ink limit. Only the lossless TIFF stores the
        // separation exactly; JPEG's ringing at edges can add ink anywhere.
        if (format === 'tiff') {
          const maxInk = maxTotalInk(await storedCmyk(data));
          assert.ok(maxInk <= profile.totalInkLimit + 1, `${name}: ${maxInk}% ink`);
        }

        // Converted back through the embedded profile, the picture is still the source picture.
        const back = await rawOf(data);
        assert.ok(psnr(back.data, small.data) > 20, `${name}: PSNR ${psnr(back.data, small.data)}`);
      }
      assert.deepEqual(embedded.get('default'), embedded.get('USWeb_Coated'));
      const distinct = new Set([...embedded.values()].map((icc) => icc.toString('base64')));
      assert.equal(distinct.size, 4);
    });
  }
});

describe('encodeOutput into the input profile', () => {
  const atelierTemp = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('atelier-icc-'));

  it('converts sRGB pixels into an in-memory profile, embeds it and leaves no file behind', async () => {
    const icc = readFileSync(cmykProfilePath('ISO_Coated'));
    const before = atelierTemp();
    const plan = planOutput(resolveOutput({ format: 'tiff' }), { space: 'cmyk', icc });
    const results = await Promise.all([encodeOutput(fromRaw(small), plan), encodeOutput(fromRaw(small), plan)]);
    for (const { data, colour } of results) {
      const meta = await sharp(data).metadata();
      assert.equal(meta.space, 'cmyk');
      assert.ok(meta.icc?.equals(icc), 'the in-memory profile was not embedded');
      assert.deepEqual(colour, plan.colour);
      assert.ok(psnr((await rawOf(data)).data, small.data) > 25, 'the picture changed');
    }
    assert.deepEqual(atelierTemp(), before);
  });

  it('refuses to keep input pixels for an output that needs a conversion', async () => {
    await assert.rejects(encodeOutput(fromRaw(small), srgbPlan({ format: 'png' }), 'input'), /cannot keep the input's pixels/);
  });
});

describe('CMYK separations', () => {
  it('print black with mostly K within each profile\'s ink limit, and white as no ink', async () => {
    for (const profile of Object.values(CMYK_PROFILES)) {
      for (const [colour, check] of [
        ['#000000', (px: Buffer) => px[3]! / 2.55 >= 90 && maxTotalInk(px) <= profile.totalInkLimit + 1],
        ['#ffffff', (px: Buffer) => maxTotalInk(px) === 0],
        ['#00a0ff', (px: Buffer) => px[0]! > 150 && px[2]! < 30],
      ] as const) {
        const image = sharp({ create: { width: 8, height: 8, channels: 3, background: colour } });
        const { data } = await encodeOutput(
          image,
          srgbPlan({ format: 'tiff', metadata: { color_space: { type: 'CMYK', color_profile: profile.name } } }),
        );
        const px = (await storedCmyk(data)).subarray(0, 4);
        assert.ok(check(px), `${profile.name} ${colour} → CMYK ${[...px].join(',')}`);
      }
    }
  });

  it('different conditions separate the same colour differently', async () => {
    const inks = new Set<string>();
    for (const profile of Object.values(CMYK_PROFILES)) {
      const image = sharp({ create: { width: 8, height: 8, channels: 3, background: '#6a3d9a' } });
      const { data } = await encodeOutput(
        image,
        srgbPlan({ format: 'tiff', metadata: { color_space: { type: 'CMYK', color_profile: profile.name } } }),
      );
      inks.add([...(await storedCmyk(data)).subarray(0, 4)].join(','));
    }
    assert.equal(inks.size, 4);
  });
});
