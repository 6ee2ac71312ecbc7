// The protobuf layer for ONNX (src/models/runtime/onnx-proto.ts): varints, half floats, rewriting nested
// fields, and the message writer, whose output must decode with the reference schema (the onnx-proto package).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import {
  OnnxDataType,
  encodeInt64,
  encodeVarint,
  fields,
  halfToFloat,
  modelProto,
  nodeProto,
  rewriteNested,
  tensorProto,
  tensorValueInfo,
} from '../../src/models/runtime/onnx-proto.js';

const { onnx } = onnxProto;

test('varints: unsigned in base-128 groups; signed 64-bit negatives in ten bytes (two\'s complement)', () => {
  assert.deepEqual([...encodeVarint(0)], [0]);
  assert.deepEqual([...encodeVarint(300)], [0xac, 0x02]);
  assert.deepEqual([...encodeVarint(2 ** 35)], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  assert.deepEqual([...encodeInt64(0)], [0]);
  assert.deepEqual([...encodeInt64(300)], [0xac, 0x02]);
  assert.deepEqual([...encodeInt64(-1)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual([...encodeInt64(-2)], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.throws(() => encodeInt64(0.5), /not a safe integer/);
});

test('halfToFloat: normals, subnormals, zeros, infinities and NaN', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

/** A small model written with the low-level writer: one Gemm with a float and an int64 initializer. */
function smallModel(): Uint8Array {
  const w = Float32Array.of(0.5, -1, 2, 4.25, 0, -0.125);
  return modelProto({
    graph: {
      name: 'small',
      nodes: [
        nodeProto('Gemm', ['x', 'w'], ['g'], { alpha: { f: 1.5 }, transB: 1 }, 'gemm'),
        nodeProto('Reshape', ['g', 'shape'], ['y']),
      ],
      initializers: [tensorProto('w', [2, 3], w), tensorProto('shape', [2], BigInt64Array.of(-1n, 1n))],
      inputs: [tensorValueInfo('x', OnnxDataType.FLOAT, ['n', 3])],
      outputs: [tensorValueInfo('y', OnnxDataType.FLOAT, [null, 1])],
    },
    opset: 17,
    irVersion: 8,
    producerName: 'test',
  });
}

test('the writer\'s model decodes with the reference schema: nodes, attributes, tensors, shapes, opset', () => {
  const model = onnx.ModelProto.decode(smallModel());
  assert.equal(Number(model.irVersion), 8);
  assert.equal(model.producerName, 'test');
  assert.equal(model.opsetImport[0]?.domain, '');
  assert.equal(Number(model.opsetImport[0]?.version), 17);
  const graph = model.graph;
  assert.ok(graph);
  assert.equal(graph.name, 'small');
  const [gemm, reshape] = graph.node ?? [];
  assert.deepEqual([gemm?.opType, gemm?.name, gemm?.input, gemm?.output], ['Gemm', 'gemm', ['x', 'w'], ['g']]);
  assert.deepEqual([reshape?.opType, reshape?.name, reshape?.input, reshape?.output], ['Reshape', '', ['g', 'shape'], ['y']]);
  assert.deepEqual(gemm?.attribute?.map((a) => [a.name, a.type]), [
    ['alpha', onnx.AttributeProto.AttributeType.FLOAT],
    ['transB', onnx.AttributeProto.AttributeType.INT],
  ]);
  assert.equal(gemm?.attribute?.[0]?.f, 1.5);
  assert.equal(Number(gemm?.attribute?.[1]?.i), 1);
  const [w, shape] = graph.initializer ?? [];
  assert.equal(w?.dataType, onnx.TensorProto.DataType.FLOAT);
  assert.deepEqual(w?.dims?.map(Number), [2, 3]);
  assert.deepEqual([...new Float32Array(Uint8Array.from(w?.rawData ?? []).buffer)], [0.5, -1, 2, 4.25, 0, -0.125]);
  assert.equal(shape?.dataType, onnx.TensorProto.DataType.INT64);
  assert.deepEqual([...new BigInt64Array(Uint8Array.from(shape?.rawData ?? []).buffer)], [-1n, 1n]);
  const dims = (v: onnxProto.onnx.IValueInfoProto | undefined) => (v?.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || (d.dimValue == null ? null : Number(d.dimValue)));
  assert.deepEqual(dims(graph.input?.[0]), ['n', 3]);
  assert.deepEqual(dims(graph.output?.[0]), [null, 1]);
  assert.throws(() => tensorProto('bad', [2, 2], new Float32Array(3)), /3 values for shape \[2, 2\]/);
});

test('rewriteNested drops the chosen sub-fields of one field and copies every other byte', () => {
  const model = smallModel();
  const withoutInitializers = rewriteNested(model, 7, (f) => f.field !== 5);
  const decoded = onnx.ModelProto.decode(withoutInitializers);
  assert.equal(decoded.graph?.initializer?.length, 0);
  assert.deepEqual(decoded.graph?.node?.map((n) => n.opType), ['Gemm', 'Reshape']);
  assert.equal(decoded.producerName, 'test');
  // Keeping everything reproduces the input exactly.
  assert.deepEqual(rewriteNested(model, 7, () => true), model);
  const top = fields(withoutInitializers).map((f) => f.field);
  assert.deepEqual(top, [1, 2, 7, 8]);
});
