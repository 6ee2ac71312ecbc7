import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import type { ImageOperations, ImageOutputOptions } from '../../src/contract/types.js';
import { AtelierError, ImageError, ValidationError } from '../../src/errors.js';
import { runEdit, inspectInput } from '../../src/pipeline/runner.js';
import { bbox, LIMITS, near, photo, pixels, solid, withRect, writeBmp } from './helpers.js';

async function edit(input: Buffer, operations: ImageOperations, output: ImageOutputOptions = { format: 'png' }) {
  return runEdit({ input, operations, output, limits: LIMITS });
}

async function size(buf: Buffer): Promise<[number, number]> {
  const m = await sharp(buf).metadata();
  return [m.width, m.height];
}

const isRed = (px: number[]): boolean => (px[0] as number) > 160 && (px[1] as number) < 90 && (px[2] as number) < 90;

describe('runEdit: resizing, exact sizes on real photos', () => {
  // building.jpg is 868×600 (landscape); a portrait is made by rotating it to 600×868.
  const landscape = photo('building.jpg');
  let portrait: Buffer;

  const cases: Array<[string, ImageOperations['resizing'], [number, number], [number, number]]> = [
    // [name, resizing, expected landscape, expected portrait]
    ['crop down', { width: 300, height: 300, fit: 'crop' }, [300, 300], [300, 300]],
    ['crop up', { width: 1200, height: 1000, fit: 'crop' }, [1200, 1000], [1200, 1000]],
    ['crop smart', { width: 200, height: 400, fit: { type: 'crop', crop: 'smart' } }, [200, 400], [200, 400]],
    ['cover down', { width: 300, height: 300, fit: 'cover' }, [434, 300], [300, 434]],
    ['cover up', { width: 1000, height: 1000, fit: { type: 'cover' } }, [1447, 1000], [1000, 1447]],
    ['bounds down', { width: 300, height: 300, fit: 'bounds' }, [300, 207], [207, 300]],
    ['bounds up', { width: 1736, height: 1736, fit: 'bounds' }, [1736, 1200], [1200, 1736]],
    ['canvas down', { width: 300, height: 200, fit: 'canvas' }, [300, 200], [300, 200]],
    ['canvas up', { width: 2000, height: 900, fit: { type: 'canvas' } }, [2000, 900], [2000, 900]],
    ['width only', { width: 434 }, [434, 300], [434, 628]],
    ['height auto', { width: 1302, height: 'auto' }, [1302, 900], [1302, 1884]],
    ['height only', { height: 150, fit: 'canvas' }, [217, 150], [104, 150]],
    ['50%', { width: '50%', height: '50%' }, [434, 300], [300, 434]],
    ['150%', { width: '150%' }, [1302, 900], [900, 1302]],
    ['12.5% height', { width: 'auto', height: '12.5%' }, [109, 75], [75, 109]],
  ];

  for (const [name, resizing, landscapeSize, portraitSize] of cases) {
    it(`${name}: landscape ${landscapeSize.join('x')}, portrait ${portraitSize.join('x')}`, async () => {
      portrait ??= await sharp(landscape).rotate(90).jpeg({ quality: 95 }).toBuffer();
      const a = await edit(landscape, { resizing }, { format: 'jpeg' });
      assert.deepEqual(await size(a.data), landscapeSize);
      assert.deepEqual([a.output.width, a.output.height], landscapeSize);
      assert.deepEqual([a.input.width, a.input.height], [868, 600]);
      const b = await edit(portrait, { resizing }, { format: 'jpeg' });
      assert.deepEqual(await size(b.data), portraitSize);
    });
  }

  it('leaves the size alone with both sides auto', async () => {
    const r = await edit(photo('messi5.jpg'), { resizing: { width: 'auto', height: 'auto', fit: 'crop' } });
    assert.deepEqual(await size(r.data), [548, 342]);
  });

  it('refuses outputs over the limits', async () => {
    await assert.rejects(
      runEdit({
        input: landscape,
        operations: { resizing: { width: 5000 } },
        output: {},
        limits: { ...LIMITS, maxOutputSide: 4000 },
      }),
      (err: unknown) => err instanceof ValidationError && err.code === 'output_too_large',
    );
    // Without resizing, the input's own size is the output size.
    await assert.rejects(
      runEdit({ input: landscape, operations: {}, output: {}, limits: { ...LIMITS, maxOutputSide: 800 } }),
      (err: unknown) => err instanceof ValidationError && err.code === 'output_too_large',
    );
  });

  it('refuses mixed pixel/percent sizes naming the field', async () => {
    await assert.rejects(
      edit(landscape, { resizing: { width: '50%', height: 100 } }),
      (err: unknown) => err instanceof ValidationError && err.details.field === 'operations.resizing.height',
    );
  });
});

describe('runEdit: canvas', () => {
  it('fills with the colour and centres the image', async () => {
    const red = await solid(200, 100, '#ff0000').png().toBuffer();
    const r = await edit(red, { resizing: { width: 300, height: 300, fit: 'canvas' }, background: { color: '#00ff00' } });
    const p = await pixels(r.data);
    assert.deepEqual([p.width, p.height], [300, 300]);
    assert.deepEqual(p.at(0, 0), [0, 255, 0]);
    assert.deepEqual(p.at(299, 299), [0, 255, 0]);
    // 200×100 into 300×300 → 300×150, centred vertically.
    assert.deepEqual(bbox(p, isRed), { left: 0, top: 75, width: 300, height: 150 });
  });

  it('fills white by default for opaque inputs', async () => {
    const red = await solid(100, 200, '#ff0000').jpeg().toBuffer();
    const r = await edit(red, { resizing: { width: 400, height: 200, fit: 'canvas' } }, { format: 'jpeg' });
    const p = await pixels(r.data);
    assert.ok(near(p.at(2, 2), [255, 255, 255], 3), `corner ${p.at(2, 2)}`);
    const box = bbox(p, isRed);
    assert.ok(box);
    // 100×200 into 400×200 → 100×200 at left 150 (JPEG may blur the edge by a pixel).
    assert.ok(Math.abs(box.left - 150) <= 1 && Math.abs(box.width - 100) <= 2, JSON.stringify(box));
  });

  it('keeps alpha 0 in the margins of a transparent PNG input', async () => {
    const input = await solid(100, 50, '#ff000080', 4).png().toBuffer();
    const r = await edit(input, { resizing: { width: 200, height: 200, fit: 'canvas' } });
    const p = await pixels(r.data);
    assert.equal(p.channels, 4);
    assert.equal(p.at(0, 0)[3], 0);
    assert.equal(p.at(199, 199)[3], 0);
    const centre = p.at(100, 100);
    assert.ok(near(centre, [255, 0, 0, 128], 2), `centre ${centre}`);
  });

  it('gives transparent margins on an opaque input when asked, and white with JPEG', async () => {
    const input = await solid(100, 50, '#ff0000').jpeg().toBuffer();
    const png = await edit(input, { resizing: { width: 100, height: 100, fit: 'canvas' }, background: { color: 'transparent' } });
    const p = await pixels(png.data);
    assert.equal(p.channels, 4);
    assert.equal(p.at(50, 5)[3], 0);
    assert.equal(p.at(50, 50)[3], 255);
    const jpeg = await edit(
      input,
      { resizing: { width: 100, height: 100, fit: 'canvas' }, background: { color: 'transparent' } },
      { format: 'jpeg' },
    );
    const q = await pixels(jpeg.data);
    assert.equal(q.channels, 3);
    assert.ok(near(q.at(50, 5), [255, 255, 255], 3), `margin ${q.at(50, 5)}`);
  });

  it('fills white when an alpha channel holds no transparency (GIF always decodes with one)', async () => {
    const gif = await solid(100, 50, '#ff0000').gif().toBuffer();
    const r = await edit(gif, { resizing: { width: 100, height: 100, fit: 'canvas' } });
    const p = await pixels(r.data);
    assert.deepEqual(p.at(50, 5).slice(0, 3), [255, 255, 255]);
    assert.equal(r.profiling.fill, '#ffffffff');
  });

  it('flattens a transparent input onto an opaque colour', async () => {
    const input = await withRect(40, 40, '#00000000', { left: 10, top: 10, width: 20, height: 20, colour: '#0000ff' }, 4);
    const r = await edit(input, { background: { color: '#ffff00' } });
    const p = await pixels(r.data);
    assert.equal(p.channels, 3);
    assert.deepEqual(p.at(0, 0), [255, 255, 0]);
    assert.deepEqual(p.at(20, 20), [0, 0, 255]);
  });

  it('flattens onto the colour for JPEG too, and onto white by default', async () => {
    const input = await withRect(40, 40, '#00000000', { left: 10, top: 10, width: 20, height: 20, colour: '#0000ff' }, 4);
    for (const operations of [
      { background: { color: '#ffff00' } },
      { background: { color: '#ffff00' }, padding: '2px' },
      { background: { color: '#ffff00' }, resizing: { width: 40, height: 60, fit: 'canvas' as const } },
    ]) {
      const r = await edit(input, operations, { format: 'jpeg' });
      const p = await pixels(r.data);
      assert.ok(near(p.at(3, 20), [255, 255, 0], 8), `${JSON.stringify(operations)}: ${p.at(3, 20)}`);
    }
    const white = await pixels((await edit(input, {}, { format: 'jpeg' })).data);
    assert.ok(near(white.at(3, 20), [255, 255, 255], 4), `default: ${white.at(3, 20)}`);
    assert.ok(near(white.at(20, 20), [0, 0, 255], 12), `content: ${white.at(20, 20)}`);
  });

  it('composites a translucent colour under transparent areas for PNG', async () => {
    const input = await withRect(40, 40, '#00000000', { left: 10, top: 10, width: 20, height: 20, colour: '#0000ff' }, 4);
    const r = await edit(input, { background: { color: '#ff000080' } });
    assert.equal(r.profiling.path, 'staged');
    const p = await pixels(r.data);
    assert.deepEqual(p.at(0, 0).slice(0, 3), [255, 0, 0]);
    assert.ok(Math.abs((p.at(0, 0)[3] as number) - 128) <= 1);
    assert.deepEqual(p.at(20, 20), [0, 0, 255, 255]);
  });
});

describe('runEdit: smart crop', () => {
  it('keeps an off-centre salient object that a centre crop loses', async () => {
    // Flat grey 600×200 with a small, saturated, high-contrast checkerboard near the right edge.
    const tile = Buffer.alloc(60 * 60 * 3);
    for (let y = 0; y < 60; y++) {
      for (let x = 0; x < 60; x++) {
        const on = (Math.floor(x / 6) + Math.floor(y / 6)) % 2 === 0;
        tile.set(on ? [255, 30, 0] : [255, 220, 0], (y * 60 + x) * 3);
      }
    }
    const object = await sharp(tile, { raw: { width: 60, height: 60, channels: 3 } }).png().toBuffer();
    const input = await solid(600, 200, '#7f7f7f').composite([{ input: object, left: 500, top: 70 }]).png().toBuffer();
    const isObject = (px: number[]): boolean => (px[0] as number) > 200 && (px[2] as number) < 60;

    const centre = await edit(input, { resizing: { width: 200, height: 200, fit: { type: 'crop', crop: 'center' } } });
    const smart = await edit(input, { resizing: { width: 200, height: 200, fit: { type: 'crop', crop: 'smart' } } });
    assert.deepEqual(await size(centre.data), [200, 200]);
    assert.deepEqual(await size(smart.data), [200, 200]);
    assert.equal(smart.profiling.crop, 'faces+saliency');
    assert.equal(centre.profiling.crop, 'centre');
    assert.equal(bbox(await pixels(centre.data), isObject), null, 'centre crop should miss the object');
    const kept = bbox(await pixels(smart.data), isObject);
    assert.deepEqual(kept && [kept.width, kept.height], [60, 60], `smart crop should keep the whole object: ${JSON.stringify(kept)}`);
    assert.notDeepEqual((await pixels(centre.data)).data, (await pixels(smart.data)).data);
  });
});

describe('runEdit: padding', () => {
  // 400×300 solid red; the red bounding box in the output is the content box.
  const cases: Array<[string, { left: number; top: number; width: number; height: number }]> = [
    ['10%', { left: 40, top: 30, width: 320, height: 240 }],
    ['5% 10%', { left: 40, top: 30, width: 320, height: 240 }],
    // 20px all round: inner 360×260, height-bound → 347×260, centred.
    ['20px', { left: 26, top: 20, width: 347, height: 260 }],
    ['20', { left: 26, top: 20, width: 347, height: 260 }],
    ['20px 40px', { left: 40, top: 30, width: 320, height: 240 }],
    // 5% 25%: inner 200×270 → 200×150, centred vertically.
    ['5% 25%', { left: 100, top: 75, width: 200, height: 150 }],
  ];
  for (const [padding, box] of cases) {
    it(`"${padding}" keeps 400×300 and puts the content at ${JSON.stringify(box)}`, async () => {
      const input = await solid(400, 300, '#ff0000').png().toBuffer();
      const r = await edit(input, { padding, background: { color: '#ffffff' } });
      const p = await pixels(r.data);
      assert.deepEqual([p.width, p.height], [400, 300]);
      assert.deepEqual(bbox(p, isRed), box);
      assert.deepEqual(p.at(0, 0), [255, 255, 255]);
    });
  }

  it('pads after resizing, keeping the resized size', async () => {
    const input = await solid(800, 600, '#ff0000').png().toBuffer();
    const r = await edit(input, { resizing: { width: 400, height: 300, fit: 'crop' }, padding: '10%' });
    const p = await pixels(r.data);
    assert.deepEqual([p.width, p.height], [400, 300]);
    assert.deepEqual(bbox(p, isRed), { left: 40, top: 30, width: 320, height: 240 });
  });

  it('leaves transparent padding on a PNG with alpha', async () => {
    const input = await solid(100, 100, '#ff0000ff', 4).png().toBuffer();
    const transparent = await withRect(100, 100, '#00000000', { left: 0, top: 0, width: 50, height: 100, colour: '#ff0000' }, 4);
    const r = await edit(transparent, { padding: '10px' });
    const p = await pixels(r.data);
    assert.equal(p.channels, 4);
    assert.equal(p.at(0, 0)[3], 0);
    assert.equal(p.at(15, 50)[3], 255);
    // A fully opaque RGBA input pads white: it has no transparency to carry on.
    const q = await pixels((await edit(input, { padding: '10px' })).data);
    assert.deepEqual(q.at(0, 0).slice(0, 3), [255, 255, 255]);
  });

  it('refuses padding of half a side or more', async () => {
    const input = await solid(400, 300, '#ff0000').png().toBuffer();
    await assert.rejects(edit(input, { padding: '50%' }), /more than half of the image height/);
    await assert.rejects(edit(input, { padding: '10px 200px' }), /more than half of the image width/);
    await assert.rejects(
      edit(input, { padding: 'wide' }),
      (err: unknown) => err instanceof ValidationError && err.details.field === 'operations.padding',
    );
  });
});

describe('runEdit: inputs', () => {
  it('edits a BMP written byte by byte', async () => {
    const bmp = writeBmp(60, 40, 24, (x) => (x < 30 ? [255, 0, 0] : [0, 0, 255]));
    const r = await edit(bmp, { resizing: { width: 30 } });
    assert.equal(r.input.format, 'BMP');
    assert.deepEqual([r.input.width, r.input.height], [60, 40]);
    const p = await pixels(r.data);
    assert.deepEqual([p.width, p.height], [30, 20]);
    assert.ok(near(p.at(2, 10), [255, 0, 0], 2));
    assert.ok(near(p.at(27, 10), [0, 0, 255], 2));
  });

  it('reports upright sizes for EXIF-rotated input', async () => {
    const rotated = await sharp(photo('messi5.jpg')).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const r = await edit(rotated, { resizing: { width: 171 } });
    assert.deepEqual([r.input.width, r.input.height], [342, 548]);
    assert.deepEqual(await size(r.data), [171, 274]);
    assert.deepEqual(await inspectInput(rotated, LIMITS), r.input);
  });

  it('refuses a truncated JPEG', async () => {
    const full = await sharp(photo('starry_night.jpg')).jpeg({ quality: 92 }).toBuffer();
    const cut = full.subarray(0, Math.floor(full.length / 2));
    await assert.rejects(edit(cut, { resizing: { width: 100 } }, { format: 'jpeg' }), (err: unknown) => {
      assert.ok(err instanceof ImageError, String(err));
      assert.equal(err.code, 'corrupt_image');
      return true;
    });
    await assert.rejects(edit(cut, {}), (err: unknown) => err instanceof ImageError && err.code === 'corrupt_image');
  });

  it('refuses random bytes', async () => {
    await assert.rejects(edit(randomBytes(2000), {}), (err: unknown) => err instanceof ImageError && err.code === 'unsupported_image');
  });
});

describe('runEdit: request checks', () => {
  it('refuses malformed outpaint options before reading the input', async () => {
    for (const operations of [
      { resizing: { width: 100, height: 50, fit: { type: 'outpaint', feathering: 'soft' } } },
      { resizing: { width: 100, height: 50, fit: { type: 'outpaint', outpaint_by: '10 apples' } } },
    ] as ImageOperations[]) {
      await assert.rejects(edit(randomBytes(100), operations), ValidationError, JSON.stringify(operations));
    }
  });

  it('refuses a bad request before reading the input', async () => {
    for (const operations of [
      { resizing: { width: '50%', height: 10 } },
      { padding: '1 2 3' },
      { background: { color: 'blue' } },
    ] as ImageOperations[]) {
      await assert.rejects(edit(randomBytes(100), operations), ValidationError, JSON.stringify(operations));
    }
  });

  it('treats false and null as off', async () => {
    const r = await edit(photo('home.jpg'), {
      background: { remove: false, blur: false },
      restorations: { decompress: null, upscale: null, polish: false },
      privacy: { blur_car_plate: false, identity_crop: false },
    });
    assert.deepEqual(await size(r.data), [512, 384]);
  });
});

describe('runEdit: mechanics', () => {
  it('stops when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      runEdit({ input: photo('home.jpg'), operations: {}, output: {}, limits: LIMITS, signal: controller.signal }),
      (err: unknown) => err instanceof Error && err.name === 'AbortError',
    );
  });

  it('reports profiling with per-step times and methods', async () => {
    const fast = await edit(photo('baboon.jpg'), { resizing: { width: 200, height: 100, fit: 'crop' } });
    assert.equal(fast.profiling.path, 'single_pass');
    assert.equal(fast.profiling.resize_kernel, 'lanczos3');
    assert.equal(fast.profiling.crop, 'centre');
    assert.equal(fast.profiling.fit, 'crop');
    for (const key of ['inspect_ms', 'decode_resize_encode_ms', 'total_ms']) assert.equal(typeof fast.profiling[key], 'number', key);

    const staged = await edit(photo('baboon.jpg'), { resizing: { width: 200 }, padding: '5%' });
    assert.equal(staged.profiling.path, 'staged');
    for (const key of ['decode_resize_ms', 'padding_ms', 'background_ms', 'encode_ms', 'total_ms']) {
      assert.equal(typeof staged.profiling[key], 'number', key);
    }
  });

  it('keeps the requested canvas colour through adjustments', async () => {
    const input = await solid(200, 100, '#404040').png().toBuffer();
    const r = await edit(input, {
      resizing: { width: 200, height: 200, fit: 'canvas' },
      adjustments: { exposure: 60 },
      background: { color: '#808080' },
    });
    assert.equal(r.profiling.path, 'staged');
    const p = await pixels(r.data);
    assert.deepEqual(p.at(0, 0), [128, 128, 128]);
    assert.ok((p.at(100, 100)[0] as number) > 0x40 + 5, `exposure should brighten the image: ${p.at(100, 100)}`);
  });
});
