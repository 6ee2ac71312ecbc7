// OnnxGraphBuilder and the TF layout helpers (src/models/runtime/onnx-graph.ts): the models it encodes decode
// with the reference protobuf schema (the onnx-proto package), and TF-style convolutions written with it compute
// on onnxruntime what TF's conv2d / depthwiseConv2d with 'same' padding compute (a direct NHWC implementation
// here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { OnnxGraphBuilder, hwioToOihw, samePadding, sameStride1Pads, tfConv2d, type FeatureMap } from '../../src/models/runtime/onnx-graph.js';
import { loadOnnx, ort } from '../../src/models/runtime/onnx.js';

const { onnx } = onnxProto;

test('TF same padding puts the odd pixel after; stride 1 pads symmetrically', () => {
  assert.deepEqual(samePadding(512, 3, 2), [0, 1]);
  assert.deepEqual(samePadding(5, 3, 2), [1, 1]);
  assert.deepEqual(samePadding(4, 3, 2), [0, 1]);
  assert.deepEqual(samePadding(7, 3, 1), [1, 1]);
  assert.deepEqual(samePadding(2, 1, 1), [0, 0]);
  // Dilation 2 spans 5 pixels with a 3-tap kernel.
  assert.deepEqual(samePadding(7, 3, 1, 2), [2, 2]);
  assert.deepEqual(samePadding(8, 3, 2, 2), [1, 2]);
});

test('stride-1 same pads do not depend on the size: (k − 1)·d per axis, the odd one at the bottom/right', () => {
  assert.deepEqual(sameStride1Pads([3, 3]), [1, 1, 1, 1]);
  assert.deepEqual(sameStride1Pads([4, 1]), [1, 0, 2, 0]);
  assert.deepEqual(sameStride1Pads([3, 2], [2, 3]), [2, 1, 2, 2]);
  for (const size of [1, 5, 64, 513]) assert.deepEqual(samePadding(size, 4, 1, 3), [4, 5]);
});

test('hwioToOihw moves every weight to [out, in, kh, kw]', () => {
  // TF kernel [kh=1, kw=2, in=2, out=3]: value = 100·x + 10·i + o.
  const tf = new Float32Array(12);
  for (let x = 0; x < 2; x++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) tf[(x * 2 + i) * 3 + o] = 100 * x + 10 * i + o;
  const onnxKernel = hwioToOihw(tf, 1, 2, 2, 3);
  for (let o = 0; o < 3; o++) for (let i = 0; i < 2; i++) for (let x = 0; x < 2; x++) assert.equal(onnxKernel[(o * 2 + i) * 2 + x], 100 * x + 10 * i + o);
});

test('the encoded model decodes with onnx-proto: nodes, every attribute kind, initializers, shapes, opset', () => {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', 'float32', ['batch', 4]);
  const shape = g.int64('shape', [-1, 2, 2]);
  const r = g.op('Reshape', [x, shape], {}, 'reshape');
  const leaky = g.op('LeakyRelu', [r], { alpha: { f: 0.25 } });
  g.node('Identity', [leaky], { note: 'text', ints: [3, -4], floats: { floats: [0.5, -1.5] }, count: -7 }, 'id', ['y']);
  g.output('y', 'float32', ['batch', null, 2]);
  const model = onnx.ModelProto.decode(g.encode({ opset: 13, graphName: 'check' }));
  assert.equal(Number(model.irVersion), 8);
  assert.equal(Number(model.opsetImport[0]?.version), 13);
  const graph = model.graph;
  assert.ok(graph);
  assert.equal(graph.name, 'check');
  const nodes = graph.node ?? [];
  assert.deepEqual(nodes.map((n) => n.opType), ['Reshape', 'LeakyRelu', 'Identity']);
  assert.deepEqual(nodes[2]?.output, ['y']);
  assert.deepEqual(nodes[0]?.input, ['x', 'shape']);
  const alpha = nodes[1]?.attribute?.[0];
  assert.equal(alpha?.type, onnx.AttributeProto.AttributeType.FLOAT);
  assert.equal(alpha?.f, 0.25);
  const attrs = Object.fromEntries((nodes[2]?.attribute ?? []).map((a) => [a.name ?? '', a]));
  assert.equal(new TextDecoder().decode(attrs.note?.s ?? new Uint8Array()), 'text');
  assert.deepEqual(attrs.ints?.ints?.map(Number), [3, -4]);
  assert.deepEqual(attrs.floats?.floats, [0.5, -1.5]);
  assert.equal(Number(attrs.count?.i), -7);
  const init = graph.initializer?.[0];
  assert.equal(init?.dataType, onnx.TensorProto.DataType.INT64);
  assert.deepEqual(init?.dims?.map(Number), [3]);
  assert.deepEqual([...new BigInt64Array(Uint8Array.from(init?.rawData ?? []).buffer)], [-1n, 2n, 2n]);
  const dims = graph.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
  assert.deepEqual(dims.map((d) => d.dimParam || Number(d.dimValue)), ['batch', 4]);
  // An unknown dimension is a Dimension with neither a value nor a name.
  const outDims = graph.output?.[0]?.type?.tensorType?.shape?.dim ?? [];
  assert.deepEqual(outDims.map((d) => d.dimParam || (d.dimValue == null ? null : Number(d.dimValue))), ['batch', null, 2]);
});

/** TF's conv2d (or depthwiseConv2d) with 'same' padding on an NHWC image, batch 1, computed directly. */
function tfConvReference(x: Float32Array, h: number, w: number, cin: number, k: Float32Array, kh: number, kw: number, cout: number, stride: number, depthwise: boolean): { data: Float32Array; h: number; w: number; c: number } {
  const [top] = samePadding(h, kh, stride);
  const [left] = samePadding(w, kw, stride);
  const oh = Math.ceil(h / stride);
  const ow = Math.ceil(w / stride);
  const oc = depthwise ? cin : cout;
  const out = new Float32Array(oh * ow * oc);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let o = 0; o < oc; o++) {
        let sum = 0;
        for (let dy = 0; dy < kh; dy++) {
          for (let dx = 0; dx < kw; dx++) {
            const iy = oy * stride + dy - top;
            const ix = ox * stride + dx - left;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            if (depthwise) sum += (x[(iy * w + ix) * cin + o] as number) * (k[(dy * kw + dx) * cin + o] as number);
            else for (let i = 0; i < cin; i++) sum += (x[(iy * w + ix) * cin + i] as number) * (k[((dy * kw + dx) * cin + i) * cout + o] as number);
          }
        }
        out[(oy * ow + ox) * oc + o] = sum;
      }
    }
  }
  return { data: out, h: oh, w: ow, c: oc };
}

test('tfConv2d (full and depthwise, strides 1 and 2, odd and even sizes) matches TF semantics on onnxruntime', async () => {
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const filled = (n: number): Float32Array => Float32Array.from({ length: n }, rand);
  for (const [h, w] of [[7, 6], [8, 8]] as const) {
    for (const stride of [1, 2]) {
      const cin = 3;
      const cout = 4;
      const k1 = filled(3 * 3 * cin * cout);
      const b1 = filled(cout);
      const k2 = filled(3 * 3 * cout);
      const g = new OnnxGraphBuilder();
      const x: FeatureMap = { name: g.input('x', 'float32', [1, cin, h, w]), height: h, width: w, channels: cin };
      const y1 = tfConv2d(g, x, 'full', { shape: [3, 3, cin, cout], data: k1 }, b1, stride);
      const y2 = tfConv2d(g, y1, 'dw', { shape: [3, 3, cout, 1], data: k2 }, undefined, 1, true);
      g.node('Identity', [y2.name], {}, 'out', ['y']);
      g.output('y', 'float32', [1, cout, y2.height, y2.width]);
      const model = await loadOnnx(g.encode(), { threads: 1 });
      try {
        const nhwc = filled(h * w * cin);
        const nchw = new Float32Array(nhwc.length);
        for (let c = 0; c < cin; c++) for (let i = 0; i < h * w; i++) nchw[c * h * w + i] = nhwc[i * cin + c] as number;
        const out = (await model.run({ x: new ort.Tensor('float32', nchw, [1, cin, h, w]) })).y;
        assert.ok(out);
        const r1 = tfConvReference(nhwc, h, w, cin, k1, 3, 3, cout, stride, false);
        for (let i = 0; i < r1.data.length; i++) r1.data[i] = (r1.data[i] as number) + (b1[i % cout] as number);
        const r2 = tfConvReference(r1.data, r1.h, r1.w, cout, k2, 3, 3, 1, 1, true);
        assert.deepEqual(out.dims, [1, cout, r2.h, r2.w]);
        const got = out.data as Float32Array;
        let worst = 0;
        for (let c = 0; c < cout; c++) {
          for (let i = 0; i < r2.h * r2.w; i++) worst = Math.max(worst, Math.abs((got[c * r2.h * r2.w + i] as number) - (r2.data[i * cout + c] as number)));
        }
        assert.ok(worst < 1e-4, `${h}×${w} stride ${stride}: max |Δ| ${worst}`);
      } finally {
        await model.release();
      }
    }
  }
});

test('tfConv2d refuses a kernel that does not fit the map', () => {
  const g = new OnnxGraphBuilder();
  const x: FeatureMap = { name: g.input('x', 'float32', [1, 3, 4, 4]), height: 4, width: 4, channels: 3 };
  assert.throws(() => tfConv2d(g, x, 'bad', { shape: [3, 3, 2, 4], data: new Float32Array(72) }, undefined, 1), /does not fit/);
  assert.throws(() => tfConv2d(g, x, 'bad', { shape: [3, 3, 3, 4], data: new Float32Array(108) }, new Float32Array(3), 1), /biases/);
});
