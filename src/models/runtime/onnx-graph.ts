// A tiny ONNX model writer: nodes, initializers, graph inputs and outputs, encoded to ModelProto bytes with the
// protobuf primitives of onnx-proto.ts. Enough to rebuild small convolutional networks (e.g. face-api's SSD,
// whose weights ship as TF.js manifests) as ONNX graphs for onnxruntime; not a general ONNX library.
// Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto).
import { endianness } from 'node:os';
import { bytesField, concatBytes, encodeVarint, varintField } from './onnx-proto.js';

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type ElemType = 'float32' | 'int64';

/** A symbolic (string) or fixed (number) dimension. */
export type Dim = number | string;

/**
 * Attribute values: a plain number is an INT, a number[] INTS, a string STRING; floats must say so
 * (`{ f }`, `{ floats }`) because JavaScript cannot tell 1 from 1.0.
 */
export type AttrValue = number | number[] | string | { f: number } | { floats: number[] };

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

const utf8 = new TextEncoder();

/** A signed 64-bit varint (negative numbers take ten bytes, as protobuf's int64 does). */
export function encodeSignedVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  for (;;) {
    const c = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) out.push(c | 0x80);
    else {
      out.push(c);
      return Uint8Array.from(out);
    }
  }
}

function intField(field: number, value: number): Uint8Array {
  return concatBytes([encodeVarint(field * 8), encodeSignedVarint(value)]);
}

function stringField(field: number, value: string): Uint8Array {
  return bytesField(field, utf8.encode(value));
}

/** A fixed32 (wire type 5) float field. */
function floatField(field: number, value: number): Uint8Array {
  const value4 = new Uint8Array(4);
  new DataView(value4.buffer).setFloat32(0, value, true);
  return concatBytes([encodeVarint(field * 8 + 5), value4]);
}

function encodeAttribute(name: string, value: AttrValue): Uint8Array {
  const parts: Uint8Array[] = [stringField(1, name)];
  if (typeof value === 'number') {
    parts.push(intField(3, value), varintField(20, ATTR_INT));
  } else if (typeof value === 'string') {
    parts.push(stringField(4, value), varintField(20, ATTR_STRING));
  } else if (Array.isArray(value)) {
    for (const v of value) parts.push(intField(8, v));
    parts.push(varintField(20, ATTR_INTS));
  } else if ('f' in value) {
    parts.push(floatField(2, value.f), varintField(20, ATTR_FLOAT));
  } else {
    for (const v of value.floats) parts.push(floatField(7, v));
    parts.push(varintField(20, ATTR_FLOATS));
  }
  return concatBytes(parts);
}

/** A length-delimited field as a list of parts (header, then the payload's parts uncopied). */
function delimited(field: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return [encodeVarint(field * 8 + 2), encodeVarint(length), ...parts];
}

/**
 * TensorProto with its values as little-endian raw_data, as parts: on little-endian machines the last part is
 * a view of `data`, so that large weights are copied once, into the finished model.
 */
function tensorParts(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Uint8Array[] {
  const count = dims.reduce((n, d) => n * d, 1);
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(',')}]`);
  let raw: Uint8Array;
  if (endianness() === 'LE') {
    raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    raw = new Uint8Array(data.byteLength);
    const view = new DataView(raw.buffer);
    if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  }
  return [
    ...dims.map((d) => intField(1, d)),
    varintField(2, data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64),
    stringField(8, name),
    ...delimited(9, [raw]),
  ];
}

/** TensorProto with its values as little-endian raw_data. */
export function encodeTensor(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Uint8Array {
  return concatBytes(tensorParts(name, dims, data));
}

function encodeValueInfo(name: string, type: ElemType, dims: readonly Dim[]): Uint8Array {
  const dimParts = dims.map((d) => bytesField(1, typeof d === 'number' ? intField(1, d) : stringField(2, d)));
  const tensorType = concatBytes([varintField(1, type === 'float32' ? ONNX_FLOAT : ONNX_INT64), bytesField(2, concatBytes(dimParts))]);
  return concatBytes([stringField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

export interface EncodeOptions {
  /** The default-domain opset the graph's operators are written for. */
  opset?: number;
  producer?: string;
  graphName?: string;
}

/** Builds one graph: call `input`, `initializer`/`constant`, `node` in data-flow order, then `output` and `encode`. */
export class OnnxGraphBuilder {
  private readonly nodes: Uint8Array[] = [];
  private readonly initializers: Uint8Array[][] = [];
  private readonly inputs: Uint8Array[] = [];
  private readonly outputs: Uint8Array[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh value name with the given stem. */
  fresh(stem: string): string {
    let name = stem;
    while (this.names.has(name)) name = `${stem}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.names.add(name);
    this.inputs.push(encodeValueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: readonly Dim[]): void {
    this.outputs.push(encodeValueInfo(name, type, dims));
  }

  /** A float32 weight tensor; returns its (possibly de-duplicated) name. */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorParts(unique, dims, data));
    return unique;
  }

  /** An int64 constant (shapes, axes). */
  int64(name: string, values: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorParts(unique, [values.length], BigInt64Array.from(values, (v) => BigInt(v))));
    return unique;
  }

  /** A float32 scalar constant. */
  scalar(name: string, value: number): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorParts(unique, [], Float32Array.of(value)));
    return unique;
  }

  /**
   * Adds a node; `outputs` are names or a count of fresh names derived from `name`. Returns the output names.
   * An empty string in `inputs` marks an omitted optional input, as ONNX does.
   */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, name?: string, outputs: number | readonly string[] = 1): string[] {
    const nodeName = this.fresh(name ?? opType);
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => (i === 0 ? nodeName : this.fresh(`${nodeName}:${i}`))) : [...outputs];
    for (const o of outs) this.names.add(o);
    this.nodes.push(
      concatBytes([
        ...inputs.map((i) => stringField(1, i)),
        ...outs.map((o) => stringField(2, o)),
        stringField(3, nodeName),
        stringField(4, opType),
        ...Object.entries(attrs).map(([k, v]) => bytesField(5, encodeAttribute(k, v))),
      ]),
    );
    return outs;
  }

  /** `node` for single-output operators. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name)[0] as string;
  }

  /** The ModelProto bytes (IR version 8). */
  encode(opts: EncodeOptions = {}): Uint8Array {
    const graph = [
      ...this.nodes.map((n) => bytesField(1, n)),
      stringField(2, opts.graphName ?? 'graph'),
      ...this.initializers.flatMap((t) => delimited(5, t)),
      ...this.inputs.map((v) => bytesField(11, v)),
      ...this.outputs.map((v) => bytesField(12, v)),
    ];
    // One copy of the weights, into the result.
    return concatBytes([
      varintField(1, 8),
      stringField(2, opts.producer ?? 'atelier'),
      ...delimited(7, graph),
      bytesField(8, concatBytes([stringField(1, ''), varintField(2, opts.opset ?? 13)])),
    ]);
  }
}

// ---------------------------------------------------------------------------------------------------------
// TensorFlow → ONNX layout helpers (TF is NHWC with HWIO kernels, ONNX NCHW with OIHW kernels)

/** A TF kernel [kh, kw, in, out] as ONNX's [out, in, kh, kw] (for depthwise [kh, kw, c, 1] this gives [1, c, kh, kw]'s data order, i.e. [c, 1, kh, kw]). */
export function hwioToOihw(data: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = data[src + o] as number;
      }
    }
  }
  return out;
}

/** TF 'same' padding for one axis: [before, after], the odd pixel after. */
export function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** A value of an NCHW graph with batch 1 (or a symbolic batch) whose spatial size is known. */
export interface FeatureMap {
  name: string;
  height: number;
  width: number;
  channels: number;
}

/**
 * TF's conv2d / depthwiseConv2d with 'same' padding on an NCHW map: `kernel` is TF's [kh, kw, in, out]
 * ([kh, kw, c, 1] when `depthwise`), stored as an initializer in ONNX's layout; `bias` is optional.
 */
export function tfConv2d(
  g: OnnxGraphBuilder,
  x: FeatureMap,
  name: string,
  kernel: { shape: readonly number[]; data: Float32Array },
  bias: Float32Array | undefined,
  stride: number,
  depthwise = false,
): FeatureMap {
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  if (kernel.shape.length !== 4 || cin !== x.channels || (depthwise && cout !== 1)) {
    throw new Error(`${name}: kernel [${kernel.shape.join(',')}] does not fit a map of ${x.channels} channels`);
  }
  const channelsOut = depthwise ? cin : cout;
  if (bias && bias.length !== channelsOut) throw new Error(`${name}: ${bias.length} biases for ${channelsOut} channels`);
  const [top, bottom] = samePadding(x.height, kh, stride);
  const [left, right] = samePadding(x.width, kw, stride);
  const dims = depthwise ? [cin, 1, kh, kw] : [cout, cin, kh, kw];
  const inputs = [x.name, g.initializer(`${name}/W`, dims, hwioToOihw(kernel.data, kh, kw, cin, cout))];
  if (bias) inputs.push(g.initializer(`${name}/B`, [channelsOut], bias));
  const y = g.op('Conv', inputs, { kernel_shape: [kh, kw], strides: [stride, stride], pads: [top, left, bottom, right], group: depthwise ? cin : 1 }, name);
  return { name: y, height: Math.ceil(x.height / stride), width: Math.ceil(x.width / stride), channels: channelsOut };
}
