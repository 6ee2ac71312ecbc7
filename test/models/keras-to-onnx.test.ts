// The TF.js layers → ONNX converter: small Keras-style models written to disk here (model.json + a weight shard)
// run on onnxruntime must give what TF.js computes from the same files, with the upsampling fold on and off;
// layers outside the supported set are refused by name.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { fileHandler, readModelArtifacts, tfjs } from '../../src/models/runtime/tfjs.js';
import { kerasToOnnx, foldUpsampledKernel } from '../../src/models/runtime/keras-to-onnx.js';
import { loadOnnx, ort } from '../../src/models/runtime/onnx.js';
import { seededWeights } from '../support/onnx-builder.js';

type Ref = [string, number, number, Record<string, never>];

interface LayerDef {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: Ref[][];
}

interface WeightDef {
  name: string;
  shape: number[];
  values: Float32Array;
  /** Store as uint8 with TF.js's affine quantisation. */
  uint8?: boolean;
}

/** A Keras functional model under construction: layers, their wiring and their weights. */
class Builder {
  readonly layers: LayerDef[] = [];
  readonly weights: WeightDef[] = [];
  private seed = 1;

  input(name: string, channels: number): string {
    this.layers.push({ class_name: 'InputLayer', name, config: { name, batch_input_shape: [null, null, null, channels], dtype: 'float32' }, inbound_nodes: [] });
    return name;
  }

  layer(class_name: string, name: string, inputs: string[], config: Record<string, unknown> = {}): string {
    this.layers.push({ class_name, name, config: { name, ...config }, inbound_nodes: [inputs.map((i): Ref => [i, 0, 0, {}])] });
    return name;
  }

  conv(name: string, input: string, inC: number, filters: number, config: Record<string, unknown> = {}, opts: { uint8?: boolean } = {}): string {
    const k = (config.kernel_size as number[] | undefined) ?? [3, 3];
    const shape = [k[0] as number, k[1] as number, inC, filters];
    const count = shape.reduce((a, b) => a * b, 1);
    // Weights scaled so activations stay of order one through the whole network.
    this.weights.push({ name: `${name}/kernel`, shape, values: seededWeights(count, this.seed++, 1.5 / Math.sqrt(count / filters)), uint8: opts.uint8 ?? false });
    if (config.use_bias !== false) this.weights.push({ name: `${name}/bias`, shape: [filters], values: seededWeights(filters, this.seed++, 0.2) });
    return this.layer('Conv2D', name, [input], {
      filters,
      kernel_size: k,
      strides: [1, 1],
      padding: 'same',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      groups: 1,
      activation: 'linear',
      use_bias: true,
      ...config,
    });
  }

  /** Writes model.json and its shard into `dir`; returns the model.json path. */
  write(dir: string, inputs: string[], outputs: string[]): string {
    const shards: Buffer[] = [];
    const specs = this.weights.map((w) => {
      if (!w.uint8) {
        shards.push(Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength));
        return { name: w.name, shape: w.shape, dtype: 'float32' };
      }
      let min = Infinity;
      let max = -Infinity;
      for (const v of w.values) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const scale = (max - min) / 255;
      shards.push(Buffer.from(Array.from(w.values, (v) => Math.round((v - min) / scale))));
      return { name: w.name, shape: w.shape, dtype: 'float32', quantization: { dtype: 'uint8', scale, min } };
    });
    writeFileSync(join(dir, 'group1-shard1of1.bin'), Buffer.concat(shards));
    const json = {
      format: 'layers-model',
      generatedBy: 'keras v2.10.0',
      convertedBy: 'test',
      modelTopology: {
        keras_version: '2.10.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Functional',
          config: {
            name: 'tiny',
            layers: this.layers,
            input_layers: inputs.map((i) => [i, 0, 0]),
            output_layers: outputs.map((o) => [o, 0, 0]),
          },
        },
      },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
    };
    const path = join(dir, 'model.json');
    writeFileSync(path, JSON.stringify(json));
    return path;
  }
}

/** The brief's layer set: conv, relu, concat, add, then a nearest upsampling folded into the final conv. */
function upscalerLike(b: Builder): string {
  const x = b.input('LR', 3);
  const f = b.conv('F', x, 3, 8);
  const g = b.conv('G', f, 8, 4, {}, { uint8: true });
  const r = b.layer('Activation', 'G_relu', [g], { activation: 'relu' });
  const cat = b.layer('Concatenate', 'cat', [f, r], { axis: -1 });
  const lff = b.conv('LFF', cat, 12, 8, { kernel_size: [1, 1], padding: 'valid' });
  const add = b.layer('Add', 'res', [lff, f]);
  const up1 = b.conv('UP1', add, 8, 6, { kernel_size: [5, 5], activation: 'relu' });
  const ups = b.layer('UpSampling2D', 'UPsample', [up1], { size: [3, 3], interpolation: 'nearest', data_format: 'channels_last' });
  return b.conv('SR', ups, 6, 3);
}

/** The rest of what the converter claims: strides, dilation, no bias, valid padding, N-way add, other activations. */
function variety(b: Builder): string {
  const x = b.input('img', 3);
  const a = b.conv('strided', x, 3, 8, { strides: [2, 2], activation: 'tanh' });
  const d = b.conv('dilated', a, 8, 8, { dilation_rate: [2, 2] });
  const v = b.conv('wide', a, 8, 8, { kernel_size: [1, 3], activation: 'sigmoid' });
  const g = b.conv('tall', a, 8, 8, { kernel_size: [3, 1], use_bias: false });
  const sum = b.layer('Add', 'sum3', [d, v, g]);
  const lin = b.layer('Activation', 'lin', [sum], { activation: 'linear' });
  const sig = b.layer('Activation', 'sig', [lin], { activation: 'sigmoid' });
  // Rectangular upsampling cannot be folded (DepthToSpace takes one block size): it stays a Resize.
  const up = b.layer('UpSampling2D', 'up23', [sig], { size: [2, 3], interpolation: 'nearest' });
  const shrink = b.conv('shrink', up, 8, 4, { kernel_size: [3, 3], padding: 'valid', activation: 'relu' });
  return b.layer('Concatenate', 'out', [shrink, shrink], { axis: 3 });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'keras-to-onnx-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the converted model on NCHW input and returns NHWC output (TF.js's layout) with its shape. */
async function runOnnx(bytes: Uint8Array, nhwc: Float32Array, h: number, w: number, c: number): Promise<{ data: Float32Array; shape: number[] }> {
  const chw = new Float32Array(nhwc.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) chw[(k * h + y) * w + x] = nhwc[(y * w + x) * c + k] as number;
  const model = await loadOnnx(bytes);
  try {
    const out = (await model.run({ [model.inputNames[0] as string]: new ort.Tensor('float32', chw, [1, c, h, w]) }))[model.outputNames[0] as string] as ort.Tensor;
    const [, C, H, W] = out.dims as [number, number, number, number];
    const data = out.data as Float32Array;
    const hwc = new Float32Array(data.length);
    for (let k = 0; k < C; k++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) hwc[(y * W + x) * C + k] = data[(k * H + y) * W + x] as number;
    return { data: hwc, shape: [1, H, W, C] };
  } finally {
    await model.release();
  }
}

async function runTfjs(path: string, nhwc: Float32Array, h: number, w: number, c: number): Promise<{ data: Float32Array; shape: number[] }> {
  const tf = await tfjs();
  const model = await tf.loadLayersModel(fileHandler(path));
  try {
    const y = tf.tidy(() => model.predict(tf.tensor4d(nhwc, [1, h, w, c])) as TF.Tensor);
    const data = (await y.data()) as Float32Array;
    const shape = y.shape;
    y.dispose();
    return { data, shape };
  } finally {
    model.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('Keras (TF.js layers) → ONNX', () => {
  for (const [label, build, sizes] of [
    ['conv, relu, concat, add, 1×1 and 5×5 kernels, uint8 weights, folded upsampling', upscalerLike, [[13, 17], [24, 9]]],
    ['strides, dilation, no bias, valid padding, 3-way add, tanh/sigmoid, rectangular upsampling', variety, [[15, 21], [8, 10]]],
  ] as const) {
    it(`matches TF.js on ${label}`, async (t) => {
      const b = new Builder();
      const out = build(b);
      const sub = mkdtempSync(join(dir, 'm-'));
      const input = b.layers[0]!.name;
      const path = b.write(sub, [input], [out]);
      const artifacts = await readModelArtifacts(path);
      for (const fold of [true, false]) {
        const bytes = kerasToOnnx(artifacts, { foldUpsampling: fold });
        for (const [h, w] of sizes) {
          const x = seededWeights(h * w * 3, 100 + h, 1);
          const expected = await runTfjs(path, x, h, w, 3);
          const got = await runOnnx(bytes, x, h, w, 3);
          assert.deepEqual(got.shape, expected.shape, `fold ${fold}, ${h}×${w}`);
          const spread = maxAbsDiff(expected.data, new Float32Array(expected.data.length));
          const d = maxAbsDiff(got.data, expected.data);
          t.diagnostic(`fold ${fold}, ${h}×${w} → ${expected.shape.join('×')}: max |Δ| ${d.toExponential(2)} (max |y| ${spread.toFixed(3)})`);
          assert.ok(spread > 0.05, 'the model computes something non-trivial');
          assert.ok(d < 1e-4, `fold ${fold}, ${h}×${w}: max |Δ| ${d}`);
        }
      }
    });
  }

  it('folds nearest upsampling into a low-resolution kernel whose phases cover every tap once', () => {
    // 3×3 kernel of ones, single channel: every output phase must sum nine ones, spread over a 3×3 low-res window.
    for (const s of [2, 3, 4]) {
      const f = foldUpsampledKernel({ shape: [3, 3, 1, 1], values: new Float32Array(9).fill(1) }, Float32Array.of(0.5), s);
      assert.deepEqual(f.shape, [s * s, 1, 3, 3]);
      assert.deepEqual(f.pads, [1, 1, 1, 1]);
      for (let p = 0; p < s * s; p++) {
        const taps = f.weights.subarray(p * 9, p * 9 + 9);
        assert.equal(taps.reduce((a, v) => a + v, 0), 9);
        assert.equal(f.bias[p], 0.5);
      }
      // Phase (0, 0) reads the row and column above: the top-left tap is the upsampled pixel above-left.
      assert.equal(f.weights[0], 1);
      // Phase (s−1, s−1) reads the row and column below.
      assert.equal(f.weights[(s * s - 1) * 9 + 8], 1);
    }
  });

  it('refuses layers outside the supported set, naming them', async () => {
    const cases: [string, (b: Builder) => string, RegExp][] = [
      ['Dense', (b) => b.layer('Dense', 'fc', [b.input('x', 3)], { units: 4 }), /unsupported Keras layer Dense \(fc\)/],
      ['BatchNormalization', (b) => b.layer('BatchNormalization', 'bn', [b.conv('c', b.input('x', 3), 3, 4)]), /BatchNormalization \(bn\)/],
      ['bilinear', (b) => b.layer('UpSampling2D', 'up', [b.input('x', 3)], { size: [2, 2], interpolation: 'bilinear' }), /up \(UpSampling2D\) uses bilinear/],
      ['softmax', (b) => b.conv('c', b.input('x', 3), 3, 4, { activation: 'softmax' }), /c \(Conv2D\) has activation "softmax"/],
      ['groups', (b) => b.conv('c', b.input('x', 4), 4, 4, { groups: 2 }), /c \(Conv2D\) is a grouped convolution/],
      ['channels_first', (b) => b.conv('c', b.input('x', 3), 3, 4, { data_format: 'channels_first' }), /c \(Conv2D\) uses data_format channels_first/],
    ];
    for (const [label, build, message] of cases) {
      const b = new Builder();
      const out = build(b);
      const path = b.write(mkdtempSync(join(dir, 'bad-')), [b.layers[0]!.name], [out]);
      const artifacts = await readModelArtifacts(path);
      assert.throws(() => kerasToOnnx(artifacts), message, label);
    }
  });
});
