// End to end: POST /v1/scene/create on the real server, with objects and templates served from a loopback
// origin. Shadow and locked-template scenes need no model; prompt scenes answer 503 without a model set.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { photo } from '../support/images.js';
import { writeSyntheticModelSet } from '../support/onnx-builder.js';
import { cli, createKey } from '../support/cli.js';
import { toRawImage } from '../../src/pipeline/raw-image.js';
import { renderObjectLayer } from '../../src/pipeline/scene/layers.js';
import { alphaBounds, planPlacement } from '../../src/pipeline/scene/placement.js';

let api: RunningServer;
let origin: ImageServer;

const OBJECT_COLOUR = [0x22, 0x66, 0xcc];
const BACKGROUND = [0xe8, 0xe4, 0xda];

/** A product-like cut-out: a blue rounded body with a dark cap on a transparent 400×600 canvas. */
async function productPng(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="600">
    <rect x="100" y="160" width="200" height="400" rx="30" fill="#2266cc"/>
    <rect x="170" y="60" width="60" height="110" fill="#202830"/></svg>`;
  return sharp(Buffer.from(svg)).ensureAlpha().png().toBuffer();
}

before(async () => {
  origin = await startImageServer();
  origin.file('/product.png', await productPng(), 'image/png');
  origin.file('/template.png', await sharp(photo('building.jpg')).png().toBuffer(), 'image/png');
  // The same product photographed on white, as an opaque JPEG: it needs the background-removal model.
  origin.file('/product.jpg', await sharp(await productPng()).flatten({ background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer(), 'image/jpeg');
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

async function rawOf(file: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function px(img: { data: Buffer; width: number; channels: number }, x: number, y: number): number[] {
  const i = (y * img.width + x) * img.channels;
  return Array.from(img.data.subarray(i, i + img.channels));
}

const absolute = (extra: object = {}) => ({
  image_url: `${origin.url}/product.png`,
  scale: 0.5,
  position: { x: 0.5, y: 0.5 },
  ...extra,
});

describe('POST /v1/scene/create: shadows', () => {
  test('front-view shadows on a colour: contract shape, sizes, object pixels kept, shadow under the base', async () => {
    const res = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows', color: '#e8e4da', view: 'front' },
      output: { number_of_images: 2, format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { input, output, profiling } = res.body.data;
    assert.deepEqual(input, { ext: 'png', mps: 0.24, mime: 'image/png', format: 'PNG', width: 400, height: 600 });
    assert.equal(output.length, 2);
    assert.equal(profiling.cutout, 'input_alpha');
    assert.equal(profiling.view, 'front');
    for (const out of output) {
      assert.deepEqual([out.width, out.height, out.format, out.ext, out.mime, out.mps], [1024, 1024, 'PNG', 'png', 'image/png', 1.048576]);
      assert.ok(out.tmp_url.startsWith(`${api.url}/tmp/`), out.tmp_url);
      const img = await rawOf(await download(out.tmp_url));
      assert.deepEqual([img.width, img.height, img.channels], [1024, 1024, 3]);
      // Object 200×500 (body + cap) at scale 0.5 of a 1024 scene: 205×512 centred, base at y = 767.
      assert.deepEqual(px(img, 10, 10), BACKGROUND, 'far corner keeps the colour exactly');
      assert.deepEqual(px(img, 512, 600), OBJECT_COLOUR, 'object interior keeps its pixels');
      const under = px(img, 512, 775);
      assert.ok(under.every((v, c) => v < (BACKGROUND[c] as number) - 10), `shadow under the base: ${under}`);
      assert.deepEqual(px(img, 512, 1015), BACKGROUND, 'no shadow far below');
    }
    const [a, b] = await Promise.all(output.map((o: { tmp_url: string }) => download(o.tmp_url)));
    assert.ok(!a.equals(b), 'each image has its own light');
  });

  test('transparent background keeps a soft shadow in the alpha (PNG and WebP), 16:9 size', async () => {
    for (const format of ['png', { type: 'webp', compression: 'lossless' }]) {
      const res = await api.json('/v1/scene/create', {
        object: absolute(),
        scene: { effect: 'shadows', color: 'transparent', view: 'front', aspect_ratio: '16:9' },
        output: { number_of_images: 1, format },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [out] = res.body.data.output;
      assert.deepEqual([out.width, out.height], [1408, 792]);
      const img = await rawOf(await download(out.tmp_url));
      assert.equal(img.channels, 4);
      assert.equal(px(img, 5, 5)[3], 0, 'transparent far away');
      assert.equal(px(img, 704, 396)[3], 255, 'object opaque');
      // 792 × 0.5 = 396 tall, centred: base at y = 593.
      const alphaBelow = px(img, 704, 600)[3] as number;
      assert.ok(alphaBelow > 0 && alphaBelow < 255, `soft shadow alpha below the object: ${alphaBelow}`);
      assert.equal(px(img, 704, 785)[3], 0, 'shadow fades out');
    }
  });

  test('top view casts the shadow around the object; number_of_images defaults to 4', async () => {
    const res = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows', view: 'top' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { output } = res.body.data;
    assert.equal(output.length, 4);
    const img = await rawOf(await download(output[0].tmp_url));
    // Default background white; the body spans x 410..614 (205 wide), y 256..767.
    assert.deepEqual(px(img, 10, 10), [255, 255, 255]);
    for (const [x, y] of [
      [405, 600],
      [619, 600],
      [512, 771],
    ] as const) {
      const v = px(img, x, y);
      assert.ok(v.every((c) => c < 250), `shadow beside the object at ${x},${y}: ${v}`);
    }
  });

  test('jpeg output and a storage-less destination refusal', async () => {
    const res = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows' },
      output: { number_of_images: 1, format: { type: 'jpeg', quality: 90 } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.output[0].format, 'JPEG');
    assert.equal((await sharp(await download(res.body.data.output[0].tmp_url)).metadata()).format, 'jpeg');

    const bad = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows' },
      output: 'https://example.test/out/',
    });
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    assert.equal(bad.body.error_code, 'unsupported_destination');
  });
});

describe('POST /v1/scene/create: storages, scopes and credits', () => {
  test('several images to a storage folder and to a file destination are numbered', async () => {
    const created = await api.json('/v1/storage/storages', { name: 'scenes', type: 'local', parameters: { path: 'scene-out' } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const folder = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows', view: 'top' },
      output: { number_of_images: 2, destination: 'storage://scenes/shots/' },
    });
    assert.equal(folder.status, 200, JSON.stringify(folder.body));
    const root = join(api.dataDir, 'storage', 'scene-out');
    for (const [i, out] of (folder.body.data.output as { object_key: string; tmp_url?: string }[]).entries()) {
      assert.equal(out.tmp_url, undefined);
      assert.equal(out.object_key, `shots/product_${i + 1}.png`);
      const meta = await sharp(await readFile(join(root, 'shots', `product_${i + 1}.png`))).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 1024]);
    }
    const file = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { effect: 'shadows', view: 'top' },
      output: { number_of_images: 2, destination: 'storage://scenes/hero.webp', format: 'webp' },
    });
    assert.equal(file.status, 200, JSON.stringify(file.body));
    assert.deepEqual(file.body.data.output.map((o: { object_key: string }) => o.object_key), ['hero_1.webp', 'hero_2.webp']);
    assert.equal((await sharp(await readFile(join(root, 'hero_2.webp'))).metadata()).format, 'webp');
  });

  test('needs the image_generation scope; pays per delivered image; failures are free', async () => {
    const editor = await createKey(api.dataDir, 'image_editing');
    const denied = await api.json('/v1/scene/create', { object: absolute(), scene: { effect: 'shadows' } }, { key: editor.token });
    assert.equal(denied.status, 403);
    assert.match(denied.body.error_message, /image_generation/);

    const generator = await createKey(api.dataDir, 'image_generation', 5);
    const balance = async () =>
      (JSON.parse((await cli(api.dataDir, 'keys', 'list', '--json')).stdout) as { id: string; credits: number }[]).find((k) => k.id === generator.id)
        ?.credits;
    const body = { object: absolute(), scene: { effect: 'shadows' }, output: { number_of_images: 3 } };
    assert.equal((await api.json('/v1/scene/create', body, { key: generator.token })).status, 200);
    assert.equal(await balance(), 2);
    const broke = await api.json('/v1/scene/create', body, { key: generator.token });
    assert.equal(broke.status, 402);
    assert.equal(broke.body.error_code, 'no_api_calls_left');
    const failed = await api.json(
      '/v1/scene/create',
      { ...body, object: { ...absolute(), image_url: `${origin.url}/missing.png` }, output: { number_of_images: 2 } },
      { key: generator.token },
    );
    assert.equal(failed.status, 422, JSON.stringify(failed.body));
    assert.equal(await balance(), 2, 'a failed scene is refunded');
  });
});

describe('POST /v1/scene/create: opaque inputs', () => {
  test('an object without transparency is cut out by the background-removal model', async () => {
    const res = await api.json('/v1/scene/create', {
      object: { ...absolute(), image_url: `${origin.url}/product.jpg` },
      scene: { effect: 'shadows', color: '#e8e4da', view: 'front' },
      output: { number_of_images: 1 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.profiling.cutout, 'model');
    assert.equal(res.body.data.input.format, 'JPEG');
    const img = await rawOf(await download(res.body.data.output[0].tmp_url));
    // The white studio background is gone: the scene colour shows where the JPEG was white.
    assert.deepEqual(px(img, 10, 10), BACKGROUND);
    assert.deepEqual(px(img, 300, 512), BACKGROUND, 'beside the object');
    const centre = px(img, 512, 600);
    assert.ok(centre.every((v, c) => Math.abs(v - (OBJECT_COLOUR[c] as number)) <= 6), `object kept: ${centre}`);
  });
});

describe('POST /v1/scene/create: templates', () => {
  test('lock keeps every template pixel outside the object and its shadow', async () => {
    const res = await api.json('/v1/scene/create', {
      object: absolute({ scale: 0.4, position: { x: 0.5, y: 0.4 } }),
      scene: { template_url: `${origin.url}/template.png`, template_mode: 'lock', view: 'front' },
      output: { number_of_images: 1, format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [out] = res.body.data.output;
    assert.deepEqual([out.width, out.height], [868, 600]);
    assert.ok(res.body.data.profiling.harmonisation, 'harmonisation reported');
    const img = await rawOf(await download(out.tmp_url));
    const template = await rawOf(await sharp(photo('building.jpg')).png().toBuffer());
    assert.equal(img.channels, template.channels);
    // The object is 240 tall (0.4 × 600), centred at (434, 360): rows 240..479, columns ~385..483.
    let changed = 0;
    let minX = Infinity;
    let maxX = -1;
    let minY = Infinity;
    let maxY = -1;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const i = (y * img.width + x) * img.channels;
        if (img.data.compare(template.data, i, i + 3, i, i + 3) !== 0) {
          changed++;
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    assert.ok(changed > 20_000, `the object was placed (${changed} pixels changed)`);
    assert.ok(minY >= 235 && maxY <= 560, `changes stay between the object's top and its shadow: rows ${minY}..${maxY}`);
    assert.ok(minX >= 300 && maxX <= 570, `changes stay around the object: columns ${minX}..${maxX}`);
  });
});

describe('POST /v1/scene/create: generated scenes without a model set', () => {
  test('a prompt scene answers 503 naming the model set and how to install it', async () => {
    const res = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { prompt: 'on a marble countertop, soft morning light' },
      output: { number_of_images: 1 },
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error_type, 'runtime_settings');
    assert.equal(typeof res.body.error_details.model, 'string');
    assert.match(String(res.body.error_details.command), /models pull/);
  });

  test('a transform template answers 503 too, before fetching anything', async () => {
    const before = origin.hits('/template.png');
    const res = await api.json('/v1/scene/create', {
      object: absolute(),
      scene: { template_url: `${origin.url}/template.png`, template_mode: 'transform', view: 'front', prompt: 'on a wooden table' },
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(origin.hits('/template.png'), before);
  });
});

describe('POST /v1/scene/create: validation', () => {
  const cases: [string, object, string][] = [
    ['text with generate', { object: { image_url: 'https://x.test/a.png' }, scene: { prompt: { generate: true, text: 'a table' } } }, 'scene.prompt.text'],
    ['guidelines without generate', { object: { image_url: 'https://x.test/a.png' }, scene: { prompt: { text: 'a table', guidelines: 'bright' } } }, 'scene.prompt.guidelines'],
    ['scale 0', { object: { image_url: 'https://x.test/a.png', scale: 0 }, scene: { effect: 'shadows' } }, 'object.scale'],
    ['padding grammar', { object: { image_url: 'https://x.test/a.png', placement_type: 'padding', padding: 'ten' }, scene: { effect: 'shadows' } }, 'object.padding'],
    ['colour grammar', { object: { image_url: 'https://x.test/a.png' }, scene: { effect: 'shadows', color: 'blue' } }, 'scene.color'],
    ['unknown aspect ratio', { object: { image_url: 'https://x.test/a.png' }, scene: { effect: 'shadows', aspect_ratio: '7:4' } }, 'scene'],
    ['five images', { object: { image_url: 'https://x.test/a.png' }, scene: { effect: 'shadows' }, output: { number_of_images: 5 } }, 'output'],
  ];
  for (const [name, body, field] of cases) {
    test(`422: ${name}`, async () => {
      const res = await api.json('/v1/scene/create', body);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error_type, 'validation');
      const locs = (res.body.error_details.errors as { loc: string[] }[]).map((e) => e.loc.slice(1).join('.'));
      assert.ok(locs.some((l) => l.startsWith(field)), `${field} in ${JSON.stringify(locs)}`);
    });
  }
});

describe('POST /v1/scene/create: generated scenes through a (synthetic) model set', () => {
  let modelsDir: string;
  let gen: RunningServer;

  before(async () => {
    // Small ONNX graphs with the real signatures of an SD 1.5 inpainting set (9-channel UNet): the whole
    // pipeline runs (tokenizer, text encoder, scheduler, UNet, VAE), only the weights are not a real model's.
    modelsDir = await mkdtemp(join(tmpdir(), 'atelier-scene-models-'));
    writeSyntheticModelSet(join(modelsDir, 'sd15-inpaint-onnx'), { inChannels: 9, unetConfig: true });
    gen = await startServer({
      env: { ATELIER_MODELS_DIR: modelsDir, ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' },
    });
  });

  after(async () => {
    await gen?.dispose();
    if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  });

  /** The object as the scene places it, rendered here with the same geometry, to compare pixels with. */
  async function placedObject(spec: { x: number; y: number; scale: number }, scene: { width: number; height: number }) {
    const img = await toRawImage(sharp(await productPng()));
    const box = alphaBounds(img.data, img.width, img.height, 4);
    assert.ok(box);
    return renderObjectLayer(img, planPlacement({ type: 'absolute', ...spec, rotation: 0 }, img, box, scene), scene);
  }

  function assertObjectKept(img: { data: Buffer; width: number; channels: number }, object: { data: Buffer }): number {
    let solid = 0;
    for (let p = 0; p < img.width * img.width; p++) {
      if (object.data[p * 4 + 3] !== 255) continue;
      solid++;
      const got = Array.from(img.data.subarray(p * img.channels, p * img.channels + 3));
      const want = Array.from(object.data.subarray(p * 4, p * 4 + 3));
      assert.deepEqual(got, want, `object pixel ${p % img.width},${Math.floor(p / img.width)}`);
    }
    return solid;
  }

  test('a prompt scene runs the pipeline, reports seeds, and keeps the object pixels exactly', async () => {
    const res = await gen.json('/v1/scene/create', {
      object: absolute(),
      scene: { prompt: 'on a marble countertop, soft light', negative_prompt: 'blurry, low quality', steps: 3 },
      output: { number_of_images: 2, format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { output, profiling } = res.body.data;
    assert.equal(output.length, 2);
    assert.equal(profiling.diffusion.model_set, 'sd15-inpaint-onnx');
    assert.equal(profiling.diffusion.prompt, 'on a marble countertop, soft light');
    assert.equal(profiling.seeds.length, 2);
    assert.ok(profiling.seeds.every((s: unknown) => Number.isInteger(s)));
    const object = await placedObject({ x: 0.5, y: 0.5, scale: 0.5 }, { width: 1024, height: 1024 });
    const files = await Promise.all(output.map((o: { tmp_url: string }) => download(o.tmp_url)));
    for (const file of files) {
      const img = await rawOf(file);
      assert.deepEqual([img.width, img.height], [1024, 1024]);
      assert.ok(assertObjectKept(img, object) > 80_000, 'the object covers its placed area');
      // The background was generated, not left as the grey starting canvas.
      const corner = px(img, 20, 20);
      assert.notDeepEqual(corner, [128, 128, 128]);
    }
    assert.ok(!files[0].equals(files[1]), 'each image has its own seed');
  });

  test('a transform template is repainted at the template size around the fixed object', async () => {
    const res = await gen.json('/v1/scene/create', {
      object: absolute({ scale: 0.4, position: { x: 0.5, y: 0.4 } }),
      scene: { template_url: `${origin.url}/template.png`, template_mode: 'transform', view: 'front', prompt: 'a sunny street', steps: 2 },
      output: { number_of_images: 1, format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [out] = res.body.data.output;
    assert.deepEqual([out.width, out.height], [868, 600]);
    assert.equal(res.body.data.profiling.diffusion.strength, 0.75);
    const img = await rawOf(await download(out.tmp_url));
    const object = await placedObject({ x: 0.5, y: 0.4, scale: 0.4 }, { width: 868, height: 600 });
    let solid = 0;
    for (let p = 0; p < 868 * 600; p++) {
      if (object.data[p * 4 + 3] !== 255) continue;
      solid++;
      assert.deepEqual(Array.from(img.data.subarray(p * img.channels, p * img.channels + 3)), Array.from(object.data.subarray(p * 4, p * 4 + 3)));
    }
    assert.ok(solid > 5_000);
  });

  test('prompt.generate without a captioning model answers 503 naming it', async () => {
    const res = await gen.json('/v1/scene/create', {
      object: absolute(),
      scene: { prompt: { generate: true, guidelines: 'real life setting' } },
      output: { number_of_images: 1 },
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error_details.capability, 'caption');
    assert.match(String(res.body.error_details.command), /models pull/);
  });
});
