// End to end: the real server, over HTTP, editing real images fetched from a loopback origin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { gradient, photo, pixelAt, tiffCompression } from '../support/images.js';

let api: RunningServer;
let origin: ImageServer;

before(async () => {
  origin = await startImageServer();
  origin.file('/photo.jpg', photo('building.jpg'), 'image/jpeg');
  origin.file('/fruits.jpg', photo('fruits.jpg'), 'image/jpeg');
  origin.file('/alpha.png', await gradient(200, 100, 'png', true), 'image/png');
  origin.file('/not-an-image.jpg', Buffer.from('this is plainly not an image, just some text bytes'), 'image/jpeg');
  const full = photo('messi5.jpg');
  origin.file('/truncated.jpg', full.subarray(0, Math.floor(full.length / 2)), 'image/jpeg');
  origin.route('/server-error.jpg', (_req, res) => res.writeHead(500).end('boom'));
  api = await startServer({ env: { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' } });
});

after(async () => {
  await api?.dispose();
  await origin?.close();
});

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return Buffer.from(await res.arrayBuffer());
}

describe('POST /v1/image/edit', () => {
  test('resizes a real photo, answers the contract shape, and serves the output at tmp_url', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/photo.jpg`,
      operations: { resizing: { width: 300 } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { input, output, profiling } = res.body.data;
    assert.deepEqual(input, { ext: 'jpeg', mps: 0.5208, mime: 'image/jpeg', format: 'JPEG', width: 868, height: 600 });
    assert.equal(output.width, 300);
    assert.equal(output.height, 207);
    assert.equal(output.format, 'JPEG');
    assert.equal(output.mime, 'image/jpeg');
    assert.equal(output.mps, 0.0621);
    assert.equal(typeof profiling, 'object');
    assert.ok(output.tmp_url.startsWith(`${api.url}/tmp/`));
    assert.ok(output.tmp_url.endsWith('/photo.jpeg'), output.tmp_url);
    const file = await download(output.tmp_url);
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 300);
    assert.equal(meta.height, 207);
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('every fit mode gives the documented size', async () => {
    const cases: [unknown, number, number][] = [
      ['crop', 400, 400],
      [{ type: 'crop', crop: 'smart' }, 400, 400],
      ['cover', 579, 400],
      ['bounds', 400, 276],
      ['canvas', 400, 400],
    ];
    for (const [fit, w, h] of cases) {
      const res = await api.json('/v1/image/edit', {
        input: `${origin.url}/photo.jpg`,
        operations: { resizing: { width: 400, height: 400, fit } },
        output: { format: 'png' },
      });
      assert.equal(res.status, 200, `${JSON.stringify(fit)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [w, h], JSON.stringify(fit));
      const meta = await sharp(await download(res.body.data.output.tmp_url)).metadata();
      assert.deepEqual([meta.width, meta.height, meta.format], [w, h, 'png']);
    }
  });

  test('canvas fills with background.color around the centred image', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/photo.jpg`,
      operations: { resizing: { width: 400, height: 400, fit: 'canvas' }, background: { color: '#ff0000' } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const file = await download(res.body.data.output.tmp_url);
    const [r, g, b] = await pixelAt(file, 200, 5);
    assert.deepEqual([r, g, b], [255, 0, 0], 'the band above the image is the background colour');
    const centre = await pixelAt(file, 200, 200);
    assert.notDeepEqual(centre.slice(0, 3), [255, 0, 0]);
  });

  test('percentages scale both sides', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/photo.jpg`,
      operations: { resizing: { width: '50%', height: '50%' } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [434, 300]);
  });

  test('padding keeps the output size and shrinks the content', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/fruits.jpg`,
      operations: { resizing: { width: 500, height: 500, fit: 'crop' }, padding: '10%', background: { color: '#00ff00' } },
      output: { format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.output.width, res.body.data.output.height], [500, 500]);
    const file = await download(res.body.data.output.tmp_url);
    assert.deepEqual((await pixelAt(file, 250, 20)).slice(0, 3), [0, 255, 0]);
    assert.deepEqual((await pixelAt(file, 20, 250)).slice(0, 3), [0, 255, 0]);
    assert.notDeepEqual((await pixelAt(file, 250, 250)).slice(0, 3), [0, 255, 0]);
  });

  test('transparent inputs stay transparent in PNG and are flattened on white in JPEG', async () => {
    const png = await api.json('/v1/image/edit', {
      input: `${origin.url}/alpha.png`,
      operations: {},
      output: { format: 'png' },
    });
    assert.equal(png.status, 200, JSON.stringify(png.body));
    const pngFile = await download(png.body.data.output.tmp_url);
    assert.equal((await pixelAt(pngFile, 190, 50))[3], 0);
    const jpg = await api.json('/v1/image/edit', { input: `${origin.url}/alpha.png`, operations: {} });
    const jpgFile = await download(jpg.body.data.output.tmp_url);
    const [r, g, b] = await pixelAt(jpgFile, 190, 50);
    assert.ok(r! > 245 && g! > 245 && b! > 245, `white, got ${r},${g},${b}`);
  });

  test('output format options: tiff lossy with dpi', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/fruits.jpg`,
      operations: {},
      output: { format: { type: 'tiff', compression: { type: 'lossy', quality: 60 } }, metadata: { dpi: 300 } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.output.format, 'TIFF');
    const file = await download(res.body.data.output.tmp_url);
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'tiff');
    assert.equal(tiffCompression(file), 7, 'JPEG-in-TIFF');
    assert.equal(Math.round(meta.density ?? 0), 300);
  });

  test('adjustments move real pixels', async () => {
    const base = await api.json('/v1/image/edit', { input: `${origin.url}/fruits.jpg`, operations: {}, output: { format: 'png' } });
    const bright = await api.json('/v1/image/edit', {
      input: `${origin.url}/fruits.jpg`,
      operations: { adjustments: { exposure: 60 } },
      output: { format: 'png' },
    });
    assert.equal(bright.status, 200, JSON.stringify(bright.body));
    const mean = async (url: string) => {
      const stats = await sharp(await download(url)).stats();
      return stats.channels.slice(0, 3).reduce((s, c) => s + c.mean, 0) / 3;
    };
    assert.ok((await mean(bright.body.data.output.tmp_url)) > (await mean(base.body.data.output.tmp_url)) + 10);
  });

  test('inputs of the same byte length, one after another, each give their own image (input memory is reused)', async () => {
    // Input bodies are read into pooled memory: two different files of identical length land at the same
    // address one after the other. Each answer must still be made from its own bytes (no stale decode).
    const make = (name: 'baboon.jpg' | 'starry_night.jpg') =>
      sharp(photo(name)).resize(1400, 1000, { fit: 'fill' }).jpeg({ quality: 97, chromaSubsampling: '4:4:4' }).toBuffer();
    const [a, b] = await Promise.all([make('baboon.jpg'), make('starry_night.jpg')]);
    const length = Math.max(a.length, b.length) + 16;
    assert.ok(length > 512 * 1024, 'large enough to be pooled');
    // Bytes after the JPEG's end marker are ignored by decoders: both files get the same length.
    const pad = (j: Buffer) => Buffer.concat([j, Buffer.alloc(length - j.length)]);
    origin.file('/same-a.jpg', pad(a), 'image/jpeg');
    origin.file('/same-b.jpg', pad(b), 'image/jpeg');
    const expected = {
      a: await sharp(a).resize({ width: 64 }).removeAlpha().raw().toBuffer(),
      b: await sharp(b).resize({ width: 64 }).removeAlpha().raw().toBuffer(),
    };
    for (const which of ['a', 'b', 'a', 'b'] as const) {
      const res = await api.json('/v1/image/edit', {
        input: `${origin.url}/same-${which}.jpg`,
        operations: { resizing: { width: 64 } },
        output: { format: 'png' },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const got = await sharp(await download(res.body.data.output.tmp_url)).removeAlpha().raw().toBuffer();
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff += Math.abs(got[i]! - expected[which][i]!);
      assert.ok(diff / got.length < 2, `output of ${which} matches its own input (mean |Δ| ${diff / got.length})`);
    }
  });
});

describe('POST /v1/image/edit/upload', () => {
  test('takes a multipart file and data, and names the output after the upload', async () => {
    const form = new FormData();
    form.append('file', new Blob([photo('home.jpg')], { type: 'image/jpeg' }), 'living room.jpg');
    form.append('data', JSON.stringify({ operations: { resizing: { width: 256, height: 256, fit: 'crop' } }, output: { format: 'webp' } }));
    const res = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: form });
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.data.input.width, 512);
    assert.equal(body.data.output.format, 'WEBP');
    assert.ok(body.data.output.tmp_url.endsWith('/living%20room.webp'), body.data.output.tmp_url);
    const meta = await sharp(await download(body.data.output.tmp_url)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 256]);
  });

  test('missing file or data, bad JSON in data and unknown fields in data are 422', async () => {
    const onlyData = new FormData();
    onlyData.append('data', JSON.stringify({ operations: {} }));
    let res = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: onlyData });
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as any).error_type, 'validation');

    const badJson = new FormData();
    badJson.append('file', new Blob([photo('home.jpg')]), 'a.jpg');
    badJson.append('data', '{not json');
    res = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: badJson });
    assert.equal(res.status, 422);

    const withInput = new FormData();
    withInput.append('file', new Blob([photo('home.jpg')]), 'a.jpg');
    withInput.append('data', JSON.stringify({ input: 'https://x.test/a.jpg', operations: {} }));
    res = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: withInput });
    const body = (await res.json()) as any;
    assert.equal(res.status, 422);
    assert.ok(JSON.stringify(body.error_details).includes('input'), JSON.stringify(body));
  });
});

describe('errors keep the contract shape', () => {
  const shape = (body: any) => {
    assert.equal(typeof body.error_code, 'string');
    assert.equal(typeof body.error_type, 'string');
    assert.equal(typeof body.error_message, 'string');
    assert.equal(typeof body.error_details, 'object');
    assert.ok(!JSON.stringify(body).includes('    at '), 'no stack trace');
  };

  test('malformed JSON', async () => {
    const res = await api.json('/v1/image/edit', '{"input": "http://x', {});
    assert.equal(res.status, 422);
    shape(res.body);
    assert.equal(res.body.error_type, 'validation');
  });

  test('wrong types, out-of-range values and unknown fields name the field', async () => {
    const cases: [unknown, string][] = [
      [{ input: 5, operations: {} }, 'input'],
      [{ input: 'http://x.test/a.jpg', operations: { adjustments: { exposure: 101 } } }, 'operations.adjustments.exposure'],
      [{ input: 'http://x.test/a.jpg', operations: { resizing: { fit: 'stretch' } } }, 'operations.resizing.fit'],
      [{ input: 'http://x.test/a.jpg', operations: { colour: 1 } }, 'operations.colour'],
      [{ input: 'http://x.test/a.jpg' }, 'operations'],
      [{ input: 'http://x.test/a.jpg', operations: {}, output: { format: { type: 'jpeg', quality: 0 } } }, 'output.format'],
    ];
    for (const [body, field] of cases) {
      const res = await api.json('/v1/image/edit', body);
      assert.equal(res.status, 422, JSON.stringify(body));
      shape(res.body);
      assert.equal(res.body.error_type, 'validation');
      assert.ok(res.body.error_message.includes(field), `${res.body.error_message} should name ${field}`);
    }
  });

  test('bad inputs: unreachable URL, HTTP error, non-image bytes, truncated image', async () => {
    const cases = [
      'http://127.0.0.1:9/nothing-listens-here.jpg',
      `${origin.url}/server-error.jpg`,
      `${origin.url}/not-an-image.jpg`,
      `${origin.url}/truncated.jpg`,
      `${origin.url}/missing.jpg`,
    ];
    for (const input of cases) {
      const res = await api.json('/v1/image/edit', { input, operations: {} });
      assert.equal(res.status, 422, `${input}: ${JSON.stringify(res.body)}`);
      shape(res.body);
    }
  });

  test('storage destinations and inputs answer a clear 422 until storages exist', async () => {
    let res = await api.json('/v1/image/edit', { input: 'storage://bucket/a.jpg', operations: {} });
    assert.equal(res.status, 422);
    res = await api.json('/v1/image/edit', { input: `${origin.url}/photo.jpg`, operations: {}, output: 'storage://bucket/out/' });
    assert.equal(res.status, 422);
    shape(res.body);
  });

  test('404 and 405 use the error shape', async () => {
    let res = await api.json('/v1/nope');
    assert.equal(res.status, 404);
    shape(res.body);
    res = await api.json('/v1/image/edit');
    assert.equal(res.status, 405);
    shape(res.body);
    assert.equal(res.headers.get('allow'), 'POST');
  });
});

describe('output limits', () => {
  test('a requested size over the output limit is refused before any work', async () => {
    const res = await api.json('/v1/image/edit', {
      input: `${origin.url}/photo.jpg`,
      operations: { resizing: { width: 20000, height: 20000, fit: 'canvas' } },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_type, 'validation');
    assert.equal(res.body.error_code, 'output_too_large');
  });
});
