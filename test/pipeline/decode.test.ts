import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ImageError } from '../../src/errors.js';
import { decodeBmp, readBmpHeader } from '../../src/pipeline/bmp.js';
import { asImageError, openInput, probeInput, sniffFormat } from '../../src/pipeline/decode.js';
import { toRawImage } from '../../src/pipeline/raw-image.js';
import { LIMITS, near, photo, pixels, solid, writeBmp, wrap } from './helpers.js';

function imageError(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
    assert.equal(err.status, 422);
    assert.equal(err.type, 'image');
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** Decodes fully through the pipeline the runner uses and returns the first pixel. */
async function decodeFirstPixel(buf: Buffer): Promise<{ width: number; height: number; px: number[] }> {
  const probe = await probeInput(buf, LIMITS);
  const raw = await toRawImage(openInput(buf, probe, LIMITS).open());
  return { width: raw.width, height: raw.height, px: wrap(raw.data, raw.width, raw.height, raw.channels).at(0, 0) };
}

/** A PNG whose header claims `width`×`height` but which carries only one tiny compressed row. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const crc32 = (b: Buffer): number => {
    let c = ~0;
    for (const byte of b) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('sniffFormat', () => {
  it('recognises each format from its bytes', async () => {
    const base = solid(8, 8, '#123456');
    assert.equal(sniffFormat(await base.clone().jpeg().toBuffer()), 'jpeg');
    assert.equal(sniffFormat(await base.clone().png().toBuffer()), 'png');
    assert.equal(sniffFormat(await base.clone().webp().toBuffer()), 'webp');
    assert.equal(sniffFormat(await base.clone().avif().toBuffer()), 'avif');
    assert.equal(sniffFormat(await base.clone().tiff().toBuffer()), 'tiff');
    assert.equal(sniffFormat(await base.clone().gif().toBuffer()), 'gif');
    assert.equal(sniffFormat(writeBmp(2, 2, 24, () => [0, 0, 0])), 'bmp');
    assert.equal(sniffFormat(Buffer.from('hello, not an image at all')), null);
    assert.equal(sniffFormat(Buffer.from('BM but not really a bitmap header')), null);
  });
});

describe('probeInput + openInput: every input format', () => {
  const colour = [200, 40, 90];
  const formats = ['jpeg', 'png', 'webp', 'avif', 'tiff', 'gif'] as const;
  for (const format of formats) {
    it(`decodes ${format}`, async () => {
      const buf = await solid(64, 48, '#c8285a').toFormat(format).toBuffer();
      const probe = await probeInput(buf, LIMITS);
      assert.equal(probe.format, format);
      assert.deepEqual([probe.width, probe.height], [64, 48]);
      assert.equal(probe.object.ext, format);
      assert.equal(probe.object.format, format.toUpperCase());
      assert.equal(probe.object.mps, 0.003072);
      const { width, height, px } = await decodeFirstPixel(buf);
      assert.deepEqual([width, height], [64, 48]);
      assert.ok(near(px, colour, 8), `${format} pixel ${px}`);
    });
  }

  it('decodes a real JPEG photo', async () => {
    const probe = await probeInput(photo('messi5.jpg'), LIMITS);
    assert.deepEqual([probe.format, probe.width, probe.height], ['jpeg', 548, 342]);
    assert.equal(probe.object.mime, 'image/jpeg');
  });

  it('takes only the first frame of an animated GIF', async () => {
    const red = await solid(20, 10, '#ff0000', 4).raw().toBuffer();
    const blue = await solid(20, 10, '#0000ff', 4).raw().toBuffer();
    const gif = await sharp(Buffer.concat([red, blue]), { raw: { width: 20, height: 20, channels: 4, pageHeight: 10 } })
      .gif()
      .toBuffer();
    const { width, height, px } = await decodeFirstPixel(gif);
    assert.deepEqual([width, height], [20, 10]);
    assert.ok(near(px, [255, 0, 0], 2), `first frame pixel ${px}`);
  });

  it('applies EXIF orientation 6 (upright size and pixels)', async () => {
    // 40 wide × 20 high stored; a red marker in the stored top-left corner. Orientation 6 means "rotate 90°
    // clockwise to display", so upright it is 20×40 with the marker at the top-right.
    const stored = await solid(40, 20, '#0000ff')
      .composite([{ input: await solid(6, 6, '#ff0000').png().toBuffer(), left: 0, top: 0 }])
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const probe = await probeInput(stored, LIMITS);
    assert.deepEqual([probe.width, probe.height], [20, 40]);
    assert.deepEqual([probe.object.width, probe.object.height], [20, 40]);
    const raw = await toRawImage(openInput(stored, probe, LIMITS).open());
    const p = wrap(raw.data, raw.width, raw.height, raw.channels);
    assert.deepEqual([p.width, p.height], [20, 40]);
    assert.ok(near(p.at(18, 1), [255, 0, 0], 40), `top-right ${p.at(18, 1)}`);
    assert.ok(near(p.at(1, 1), [0, 0, 255], 40), `top-left ${p.at(1, 1)}`);
  });
});

describe('BMP', () => {
  const pattern = (x: number, y: number): number[] => [x * 40, y * 50, 255 - x * 10, 255];

  it('decodes a 24-bit BMP written byte by byte, rows padded', async () => {
    // Width 5 → 15 bytes per row, padded to 16: exercises row padding.
    const buf = writeBmp(5, 3, 24, pattern);
    const probe = await probeInput(buf, LIMITS);
    assert.deepEqual([probe.format, probe.width, probe.height], ['bmp', 5, 3]);
    assert.equal(probe.object.mime, 'image/bmp');
    const raw = decodeBmp(buf);
    assert.equal(raw.channels, 3);
    const p = wrap(raw.data, raw.width, raw.height, raw.channels);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) assert.deepEqual(p.at(x, y), pattern(x, y).slice(0, 3));
  });

  it('decodes a top-down BMP', () => {
    const raw = decodeBmp(writeBmp(3, 4, 24, pattern, true));
    const p = wrap(raw.data, raw.width, raw.height, raw.channels);
    assert.deepEqual(p.at(2, 3), pattern(2, 3).slice(0, 3));
    assert.deepEqual(p.at(0, 0), pattern(0, 0).slice(0, 3));
  });

  it('keeps 32-bit alpha when it is used, drops it when it is padding', () => {
    const withAlpha = decodeBmp(writeBmp(4, 2, 32, (x, y) => [10, 20, 30, x === 0 ? 0 : 128 + y]));
    assert.equal(withAlpha.channels, 4);
    const p = wrap(withAlpha.data, 4, 2, 4);
    assert.deepEqual(p.at(0, 0), [10, 20, 30, 0]);
    assert.deepEqual(p.at(3, 1), [10, 20, 30, 129]);
    const padded = decodeBmp(writeBmp(4, 2, 32, () => [10, 20, 30, 0]));
    assert.equal(padded.channels, 3);
    assert.deepEqual(wrap(padded.data, 4, 2, 3).at(1, 1), [10, 20, 30]);
  });

  it('decodes an 8-bit palette BMP', () => {
    const width = 3;
    const height = 2;
    const palette = [
      [0, 0, 255],
      [0, 255, 0],
      [255, 0, 0],
    ];
    const rowBytes = 4;
    const buf = Buffer.alloc(54 + 256 * 4 + rowBytes * height);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(54 + 256 * 4, 10);
    buf.writeUInt32LE(40, 14);
    buf.writeInt32LE(width, 18);
    buf.writeInt32LE(height, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(8, 28);
    palette.forEach(([r, g, b], i) => {
      buf[54 + i * 4] = b as number;
      buf[54 + i * 4 + 1] = g as number;
      buf[54 + i * 4 + 2] = r as number;
    });
    const px = 54 + 256 * 4;
    // bottom row first: indices 2,1,0 ; top row: 0,1,2
    buf.set([2, 1, 0], px);
    buf.set([0, 1, 2], px + rowBytes);
    const raw = decodeBmp(buf);
    const p = wrap(raw.data, width, height, raw.channels);
    assert.deepEqual(p.at(0, 0), [0, 0, 255]);
    assert.deepEqual(p.at(2, 0), [255, 0, 0]);
    assert.deepEqual(p.at(0, 1), [255, 0, 0]);
  });

  it('decodes a 32-bit BGRA BMP with a V5 header and bitfield masks', () => {
    // Writers such as ImageMagick and GIMP store alpha this way: 124-byte header, masks inside it, pixels at
    // the offset the file header gives (which bmp-js alone would not honour).
    const width = 3;
    const height = 2;
    const offset = 14 + 124;
    const buf = Buffer.alloc(offset + width * height * 4);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(offset, 10);
    buf.writeUInt32LE(124, 14);
    buf.writeInt32LE(width, 18);
    buf.writeInt32LE(height, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(32, 28);
    buf.writeUInt32LE(3, 30); // BI_BITFIELDS
    buf.writeUInt32LE(0x00ff0000, 54);
    buf.writeUInt32LE(0x0000ff00, 58);
    buf.writeUInt32LE(0x000000ff, 62);
    buf.writeUInt32LE(0xff000000, 66);
    buf.write('BGRs', 70, 'latin1'); // colour space type: sRGB
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = offset + ((height - 1 - y) * width + x) * 4;
        buf.set([x * 100, y * 200, 7, x === 1 ? 64 : 255], o); // B, G, R, A
      }
    }
    const raw = decodeBmp(buf);
    assert.equal(raw.channels, 4);
    const p = wrap(raw.data, width, height, 4);
    assert.deepEqual(p.at(0, 0), [7, 0, 0, 255]);
    assert.deepEqual(p.at(1, 1), [7, 200, 100, 64]);
    assert.deepEqual(p.at(2, 1), [7, 200, 200, 255]);
  });

  it('refuses variants bmp-js cannot read, with a clear 422', () => {
    const os2 = writeBmp(2, 2, 24, pattern);
    os2.writeUInt32LE(12, 14);
    assert.throws(() => readBmpHeader(os2), imageError('unsupported_image', /not supported/));
    const jpegInBmp = writeBmp(2, 2, 24, pattern);
    jpegInBmp.writeUInt32LE(4, 30);
    assert.throws(() => readBmpHeader(jpegInBmp), imageError('unsupported_image', /compression/));
    const bits2 = writeBmp(2, 2, 24, pattern);
    bits2.writeUInt16LE(2, 28);
    assert.throws(() => readBmpHeader(bits2), imageError('unsupported_image', /bits per pixel/));
  });

  it('refuses a truncated BMP as corrupt', async () => {
    const buf = writeBmp(50, 50, 24, pattern);
    const cut = buf.subarray(0, buf.length - 700);
    const probe = await probeInput(cut, LIMITS);
    assert.throws(() => openInput(cut, probe, LIMITS), imageError('corrupt_image'));
  });
});

describe('refusals', () => {
  it('refuses random bytes as unsupported', async () => {
    await assert.rejects(probeInput(randomBytes(4096), LIMITS), imageError('unsupported_image'));
    await assert.rejects(probeInput(Buffer.from('<html><body>404</body></html>'), LIMITS), imageError('unsupported_image'));
  });

  it('refuses HEIC with a message saying what to do', async () => {
    const ftyp = Buffer.alloc(32);
    ftyp.writeUInt32BE(24, 0);
    ftyp.write('ftypheic', 4, 'latin1');
    ftyp.write('mif1heic', 16, 'latin1');
    await assert.rejects(probeInput(ftyp, LIMITS), imageError('unsupported_image', /HEIC.*(JPEG|PNG|AVIF)/));
  });

  it('refuses a truncated JPEG instead of padding it with grey', async () => {
    const full = await sharp(photo('building.jpg')).jpeg({ quality: 90 }).toBuffer();
    const cut = full.subarray(0, Math.floor(full.length * 0.6));
    const probe = await probeInput(cut, LIMITS); // the header is intact
    await assert.rejects(
      toRawImage(openInput(cut, probe, LIMITS).open()).catch((err) => {
        throw asImageError(err, probe.format);
      }),
      imageError('corrupt_image'),
    );
  });

  it('refuses a truncated PNG', async () => {
    const full = await sharp(photo('fruits.jpg')).png().toBuffer();
    const cut = full.subarray(0, Math.floor(full.length * 0.5));
    const probe = await probeInput(cut, LIMITS);
    await assert.rejects(
      toRawImage(openInput(cut, probe, LIMITS).open()).catch((err) => {
        throw asImageError(err, probe.format);
      }),
      imageError('corrupt_image'),
    );
  });

  it('refuses files over the byte limit before reading them', async () => {
    const buf = await solid(32, 32, '#000').png().toBuffer();
    await assert.rejects(
      probeInput(buf, { ...LIMITS, maxInputBytes: buf.length - 1 }),
      (err: unknown) => {
        assert.ok(err instanceof ImageError);
        assert.equal(err.code, 'input_too_large');
        assert.deepEqual(err.details, { bytes: buf.length, max_bytes: buf.length - 1 });
        return true;
      },
    );
  });

  it('refuses too many pixels from the header, before decoding', async () => {
    // The header claims 50000×40000 but there is no pixel data to speak of: decoding would fail, so a
    // size error proves the refusal came from the header alone.
    const buf = pngHeaderOnly(50_000, 40_000);
    await assert.rejects(probeInput(buf, LIMITS), (err: unknown) => {
      assert.ok(err instanceof ImageError);
      assert.equal(err.code, 'input_resolution_too_large');
      assert.equal(err.details.pixels, 2_000_000_000);
      assert.equal(err.details.max_pixels, LIMITS.maxInputPixels);
      return true;
    });
    const bmp = writeBmp(4, 4, 24, () => [0, 0, 0]);
    await assert.rejects(probeInput(bmp, { ...LIMITS, maxInputPixels: 15 }), imageError('input_resolution_too_large'));
  });
});
