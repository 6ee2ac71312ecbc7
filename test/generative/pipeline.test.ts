// The whole diffusion pipeline on synthetic ONNX models (test/support/onnx-builder.ts) that have the real
// exports' input/output signatures: sizes, seeds, guidance, img2img strength, inpainting, batching, dtypes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DiffusionPipeline, applyGuidance, workingSize, type StepTrace } from '../../src/generative/pipeline.js';
import { createRng } from '../../src/generative/prng.js';
import { createScheduler, parseSchedulerConfig } from '../../src/generative/schedulers.js';
import { ClipTokenizer } from '../../src/generative/tokenizer.js';
import { rgbToTensor } from '../../src/generative/images.js';
import { ValidationError, UnavailableError } from '../../src/errors.js';
import type { RawImage } from '../../src/pipeline/raw-image.js';
import { SD15_SCHEDULER_CONFIG, writeSyntheticModelSet } from '../support/onnx-builder.js';

const root = mkdtempSync(join(tmpdir(), 'atelier-gen-'));
const base = { prompt: 'a photo of a cat', guidanceScale: 5, seed: 7, numberOfImages: 1 } as const;
let pipe: DiffusionPipeline;
let traces: StepTrace[] = [];

before(async () => {
  writeSyntheticModelSet(join(root, 'plain'));
  pipe = await DiffusionPipeline.load('plain', join(root, 'plain'), { onStep: (t) => traces.push(t) });
});

after(async () => {
  await pipe.release();
  rmSync(root, { recursive: true, force: true });
});

/** A test photo-like image: smooth gradients with a bright square. */
function initImage(width: number, height: number): RawImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2;
      data[i] = inSquare ? 250 : Math.round((x / width) * 200);
      data[i + 1] = Math.round((y / height) * 200);
      data[i + 2] = 90;
    }
  }
  return { data, width, height, channels: 3 };
}

/** decode(encode(image)) through the set's own VAE at the working size: what strength 0 must return. */
async function roundTrip(p: DiffusionPipeline, img: RawImage): Promise<Buffer> {
  const latents = await p.encodeImage(rgbToTensor(img.data, img.width, img.height), img.width, img.height);
  return (await p.decodeLatents(latents, img.width / 8, img.height / 8)).rgb;
}

describe('output sizes for every aspect ratio the contract uses', () => {
  // ~512² (SD 1.5's native area) and ~1024² (the generate/scene output area), sides multiples of 64.
  const sizes: Record<string, [number, number][]> = {
    '1:1': [[512, 512], [1024, 1024]],
    '2:3': [[448, 640], [832, 1280]],
    '3:2': [[640, 448], [1280, 832]],
    '3:4': [[448, 576], [896, 1152]],
    '4:3': [[576, 448], [1152, 896]],
    '9:16': [[384, 704], [768, 1344]],
    '16:9': [[704, 384], [1344, 768]],
    '9:21': [[320, 768], [640, 1536]],
    '21:9': [[768, 320], [1536, 640]],
  };
  for (const [ratio, list] of Object.entries(sizes)) {
    test(`${ratio}: ${list.map(([w, h]) => `${w}×${h}`).join(', ')}`, async () => {
      for (const [width, height] of list) {
        const r = await pipe.txt2img({ ...base, width, height, steps: 1 });
        assert.equal(r.images.length, 1);
        const img = r.images[0]!;
        assert.deepEqual([img.width, img.height, img.channels, img.data.length], [width, height, 3, width * height * 3]);
        // Not flat noise: the synthetic model paints the prompt's colour (mean far from mid grey in some channel).
        assert.deepEqual(workingSize(width, height), { width, height });
      }
    });
  }

  test('sizes off the 64 grid are generated on it and resampled to exactly the size asked', async () => {
    assert.deepEqual(workingSize(1184, 888), { width: 1216, height: 896 });
    const r = await pipe.txt2img({ ...base, width: 1184, height: 888, steps: 1 });
    assert.deepEqual([r.images[0]!.width, r.images[0]!.height], [1184, 888]);
    const small = await pipe.txt2img({ ...base, width: 100, height: 60, steps: 1 });
    assert.deepEqual([small.images[0]!.width, small.images[0]!.height, small.images[0]!.data.length], [100, 60, 100 * 60 * 3]);
  });
});

describe('seeds', () => {
  test('same seed → identical pixels; different seeds differ; seeds returned per image', async () => {
    const p = { ...base, width: 256, height: 192, steps: 6, scheduler: 'euler_ancestral' as const };
    const a = await pipe.txt2img(p);
    const b = await pipe.txt2img(p);
    const c = await pipe.txt2img({ ...p, seed: 8 });
    assert.ok(a.images[0]!.data.equals(b.images[0]!.data));
    assert.ok(!a.images[0]!.data.equals(c.images[0]!.data));
    assert.deepEqual(a.seeds, [7]);
    const many = await pipe.txt2img({ ...p, numberOfImages: 3, seed: 2 ** 32 - 2 });
    assert.deepEqual(many.seeds, [2 ** 32 - 2, 2 ** 32 - 1, 0]);
  });

  test('batched images equal the same seeds generated one by one (noise drawn per image)', async () => {
    const batched = await DiffusionPipeline.load('plain', join(root, 'plain'), { batchBudget: 1e9 });
    try {
      const p = { ...base, width: 128, height: 128, steps: 4, scheduler: 'euler_ancestral' as const };
      const together = await batched.txt2img({ ...p, numberOfImages: 3, seed: 100 });
      for (let i = 0; i < 3; i++) {
        const alone = await pipe.txt2img({ ...p, seed: 100 + i });
        assert.ok(together.images[i]!.data.equals(alone.images[0]!.data), `image ${i}`);
      }
    } finally {
      await batched.release();
    }
  });

  test('different prompts give different images (the text reaches the UNet)', async () => {
    const p = { ...base, width: 128, height: 128, steps: 4 };
    const cat = await pipe.txt2img(p);
    const dog = await pipe.txt2img({ ...p, prompt: 'a dog on a beach' });
    assert.ok(!cat.images[0]!.data.equals(dog.images[0]!.data));
  });
});

describe('classifier-free guidance', () => {
  test('noise_pred = uncond + g·(cond − uncond), and equals the UNet at the extrapolated embedding', async () => {
    traces = [];
    const g = 7.5;
    const width = 128;
    const height = 64;
    await pipe.txt2img({ ...base, negativePrompt: 'a dog', guidanceScale: g, width, height, steps: 3, scheduler: 'ddim' });
    assert.equal(traces.length, 3);
    const latentSize = 4 * (width / 8) * (height / 8);
    for (const t of traces) {
      assert.equal(t.raw.length, 2 * latentSize); // [uncond, cond] in one UNet call
      for (let i = 0; i < latentSize; i++) {
        const u = t.raw[i]!;
        const c = t.raw[latentSize + i]!;
        assert.equal(t.guided[i], Math.fround(u + g * (c - u)));
      }
    }
    assert.deepEqual(applyGuidance(new Float32Array([1, 2, 3, 5]), 2, 2), new Float32Array([1 + 2 * 2, 2 + 2 * 3]));

    // Independently: the synthetic UNet is affine in the text embedding, so guidance must equal one UNet call
    // with the embedding uncond + g·(cond − uncond). Rebuild step 0's inputs from the seed and check.
    const dir = join(root, 'plain');
    const tok = ClipTokenizer.fromFolder(join(dir, 'tokenizer'));
    const te = await ort.InferenceSession.create(join(dir, 'text_encoder/model.onnx'));
    const unet = await ort.InferenceSession.create(join(dir, 'unet/model.onnx'));
    const ids = new Int32Array(154);
    ids.set(tok.encode('a dog'), 0);
    ids.set(tok.encode('a photo of a cat'), 77);
    const emb = (await te.run({ input_ids: new ort.Tensor('int32', ids, [2, 77]) })).last_hidden_state!.data as Float32Array;
    const half = emb.length / 2;
    const mixed = new Float32Array(half).map((_, i) => emb[i]! + g * (emb[half + i]! - emb[i]!));
    const sched = createScheduler('ddim', 3, parseSchedulerConfig(SD15_SCHEDULER_CONFIG));
    const noise = createRng(7).fillNormal(new Float32Array(latentSize)).map((v) => v * sched.initNoiseSigma * sched.inputScale(0));
    const out = await unet.run({
      sample: new ort.Tensor('float32', noise, [1, 4, height / 8, width / 8]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(sched.timesteps[0]!)), [1]),
      encoder_hidden_states: new ort.Tensor('float32', mixed, [1, 77, half / 77]),
    });
    const direct = out.out_sample!.data as Float32Array;
    const guided = traces[0]!.guided;
    for (let i = 0; i < latentSize; i++) assert.ok(Math.abs(direct[i]! - guided[i]!) < 1e-4 * (1 + Math.abs(direct[i]!)), `element ${i}`);
    await te.release();
    await unet.release();
  });

  test('guidance ≤ 1 runs one row per image (no unconditional pass)', async () => {
    traces = [];
    await pipe.txt2img({ ...base, guidanceScale: 1, width: 64, height: 64, steps: 2 });
    assert.equal(traces[0]!.raw.length, 4 * 8 * 8);
    assert.equal(pipe.usesGuidance(1), false);
    assert.equal(pipe.usesGuidance(1.01), true);
  });
});

describe('image to image', () => {
  const init = initImage(256, 192);

  test('strength 0 returns the init image through the VAE (no steps run)', async () => {
    traces = [];
    const r = await pipe.img2img({ ...base, width: 256, height: 192, steps: 20, strength: 0, init });
    assert.equal(r.steps, 0);
    assert.equal(traces.length, 0);
    assert.ok(r.images[0]!.data.equals(await roundTrip(pipe, init)));
  });

  test('round(steps × strength) denoising steps run, from the matching point of the schedule', async () => {
    for (const [steps, strength, expected] of [[20, 0.5, 10], [25, 0.3, 8], [10, 1, 10], [4, 0.6, 2]] as const) {
      traces = [];
      const r = await pipe.img2img({ ...base, width: 256, height: 192, steps, strength, init, scheduler: 'ddim' });
      assert.equal(r.steps, expected);
      assert.equal(traces.length, expected);
      const full = createScheduler('ddim', steps, parseSchedulerConfig(SD15_SCHEDULER_CONFIG)).timesteps;
      assert.deepEqual(traces.map((t) => t.timestep), full.slice(steps - expected));
    }
  });

  test('low strength stays close to the init image, full strength departs from it', async () => {
    const rt = await roundTrip(pipe, init);
    const dist = (a: Buffer): number => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - rt[i]!);
      return s / a.length;
    };
    const distances: number[] = [];
    for (const strength of [0.05, 0.1, 0.5, 1]) {
      const r = await pipe.img2img({ ...base, width: 256, height: 192, steps: 20, strength, init, scheduler: 'euler' });
      distances.push(dist(r.images[0]!.data));
    }
    for (let i = 1; i < distances.length; i++) assert.ok(distances[i]! >= distances[i - 1]!, `distances ${distances.join(', ')}`);
    assert.ok(distances[0]! < distances[3]! / 3, `distances ${distances.join(', ')}`);
  });
});

describe('inpainting', () => {
  const W = 256;
  const H = 192;
  const init = initImage(W, H);
  // Repaint a block-aligned rectangle: x 64..160, y 48..112 (latent cells 8..19 × 6..13).
  const mask = { data: Buffer.alloc(W * H), width: W, height: H, channels: 1 as const };
  for (let y = 48; y < 112; y++) mask.data.fill(255, y * W + 64, y * W + 160);
  const inside = (x: number, y: number): boolean => x >= 64 && x < 160 && y >= 48 && y < 112;

  async function checkKept(p: DiffusionPipeline, scheduler: 'euler' | 'euler_ancestral' | 'ddim', tolerance: number): Promise<void> {
    const r = await p.inpaint({ ...base, width: W, height: H, steps: 8, init, mask, scheduler });
    const out = r.images[0]!.data;
    const rt = await roundTrip(p, init);
    let changedInside = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) {
          const i = (y * W + x) * 3 + c;
          if (!inside(x, y)) assert.ok(Math.abs(out[i]! - rt[i]!) <= tolerance, `(${x},${y}) ${out[i]} vs ${rt[i]}`);
          else if (Math.abs(out[i]! - rt[i]!) > 10) changedInside++;
        }
      }
    }
    assert.ok(changedInside > 96 * 64, `only ${changedInside} values repainted`);
  }

  test('normal UNet: latent blending keeps every pixel outside the mask equal to the VAE round trip', async () => {
    assert.equal(pipe.inChannels, 4);
    await checkKept(pipe, 'euler_ancestral', 0);
    await checkKept(pipe, 'ddim', 0);
  });

  test('9-channel inpainting UNet (detected from the input shape) keeps the unmasked area', async () => {
    writeSyntheticModelSet(join(root, 'inpaint'), { inChannels: 9 });
    const p = await DiffusionPipeline.load('inpaint', join(root, 'inpaint'));
    try {
      assert.equal(p.inChannels, 9);
      await checkKept(p, 'euler', 1);
      await assert.rejects(p.txt2img({ ...base, width: 64, height: 64, steps: 1 }), ValidationError);
    } finally {
      await p.release();
    }
  });

  test('9-channel UNet declared symbolically is recognised from unet/config.json', async () => {
    writeSyntheticModelSet(join(root, 'inpaint-sym'), { inChannels: 9, channelsInMetadata: false, unetConfig: true });
    const p = await DiffusionPipeline.load('inpaint-sym', join(root, 'inpaint-sym'));
    try {
      assert.equal(p.inChannels, 9);
      const r = await p.inpaint({ ...base, width: 128, height: 64, steps: 2, init: initImage(128, 64), mask: { ...mask, data: Buffer.alloc(128 * 64, 255), width: 128, height: 64 } });
      assert.equal(r.images[0]!.width, 128);
    } finally {
      await p.release();
    }
  });
});

describe('export variants', () => {
  test('float16 I/O, int64 ids, float timestep per batch row, latent_parameters encoder: same images as float32', async () => {
    writeSyntheticModelSet(join(root, 'fp16'), {
      io: 'float16',
      idsType: 'int64',
      timestepType: 'float16',
      timestepShape: 'batch',
      encoderOutput: 'latent_parameters',
      scalingFactor: 0.18215,
    });
    const p = await DiffusionPipeline.load('fp16', join(root, 'fp16'));
    try {
      const args = { ...base, width: 128, height: 128, steps: 4, scheduler: 'ddim' as const };
      const a = (await p.txt2img(args)).images[0]!.data;
      const b = (await pipe.txt2img(args)).images[0]!.data;
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      assert.ok(maxDiff <= 6, `max difference ${maxDiff}`);
      const init = initImage(128, 128);
      const i2i = await p.img2img({ ...args, strength: 0, init });
      const ref = await roundTrip(pipe, init);
      let d2 = 0;
      for (let i = 0; i < ref.length; i++) d2 = Math.max(d2, Math.abs(i2i.images[0]!.data[i]! - ref[i]!));
      assert.ok(d2 <= 2, `round trip differs by ${d2}`);
    } finally {
      await p.release();
    }
  });

  test('scalar timestep input and a custom VAE scaling factor', async () => {
    writeSyntheticModelSet(join(root, 'scalar'), { timestepShape: 'scalar', timestepType: 'float32', scalingFactor: 0.13025 });
    const p = await DiffusionPipeline.load('scalar', join(root, 'scalar'));
    try {
      assert.equal(p.scalingFactor, 0.13025);
      const r = await p.txt2img({ ...base, width: 64, height: 64, steps: 2 });
      assert.equal(r.images[0]!.data.length, 64 * 64 * 3);
    } finally {
      await p.release();
    }
  });

  test('LCM-distilled UNet (timestep_cond): LCM schedule, guidance as an embedding, one row per image', async () => {
    writeSyntheticModelSet(join(root, 'lcm'), {
      timestepCond: 256,
      scheduler: { ...SD15_SCHEDULER_CONFIG, _class_name: 'LCMScheduler', original_inference_steps: 50, set_alpha_to_one: true, timestep_scaling: 10 },
    });
    const seen: StepTrace[] = [];
    const p = await DiffusionPipeline.load('lcm', join(root, 'lcm'), { onStep: (t) => seen.push(t) });
    try {
      assert.equal(p.defaultScheduler, 'lcm');
      const r = await p.txt2img({ ...base, width: 64, height: 64, steps: 4 });
      assert.equal(r.scheduler, 'lcm');
      assert.deepEqual(seen.map((t) => t.timestep), [999, 759, 499, 259]);
      assert.equal(seen[0]!.raw.length, 4 * 8 * 8);
      const other = await p.txt2img({ ...base, width: 64, height: 64, steps: 4, guidanceScale: 2 });
      assert.ok(!r.images[0]!.data.equals(other.images[0]!.data), 'the guidance embedding reaches the UNet');
    } finally {
      await p.release();
    }
  });

  test('a set without vae_encoder does txt2img and answers 503 for img2img', async () => {
    writeSyntheticModelSet(join(root, 'noenc'), { noEncoder: true });
    const p = await DiffusionPipeline.load('noenc', join(root, 'noenc'));
    try {
      await p.txt2img({ ...base, width: 64, height: 64, steps: 1 });
      await assert.rejects(p.img2img({ ...base, width: 64, height: 64, steps: 2, strength: 0.5, init: initImage(64, 64) }), UnavailableError);
    } finally {
      await p.release();
    }
  });
});

describe('requests', () => {
  test('an aborted signal stops the run', async () => {
    const ac = new AbortController();
    ac.abort(new Error('cancelled by test'));
    await assert.rejects(pipe.txt2img({ ...base, width: 64, height: 64, steps: 2 }, ac.signal), /cancelled by test/);
    const mid = new AbortController();
    let n = 0;
    const p = await DiffusionPipeline.load('plain', join(root, 'plain'), { onStep: () => ++n === 2 && mid.abort(new Error('stop')) });
    try {
      await assert.rejects(p.txt2img({ ...base, width: 64, height: 64, steps: 10 }, mid.signal), /stop/);
      assert.equal(n, 2);
    } finally {
      await p.release();
    }
  });

  test('invalid parameters are 422s', async () => {
    await assert.rejects(pipe.txt2img({ ...base, width: 64, height: 64, steps: 0 }), ValidationError);
    await assert.rejects(pipe.txt2img({ ...base, width: 64, height: 64, steps: 60, scheduler: 'lcm' }), ValidationError);
    await assert.rejects(pipe.img2img({ ...base, width: 64, height: 64, steps: 2, strength: 1.5, init: initImage(64, 64) }), ValidationError);
    await assert.rejects(pipe.txt2img({ ...base, width: 4096, height: 4096, steps: 1 }), ValidationError);
  });

  test('timings are reported per stage', async () => {
    const r = await pipe.txt2img({ ...base, width: 64, height: 64, steps: 2 });
    for (const k of ['encode_prompt', 'denoise', 'decode', 'total']) assert.ok(r.timings[k]! >= 0, k);
    assert.equal(r.modelSet, 'plain');
    assert.equal(r.steps, 2);
  });
});
