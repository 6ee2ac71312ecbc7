// The few protobuf operations Atelier needs on ONNX models: walking fields, patching fixed-length values in
// place, dropping the graph's value_info (intermediate shapes recorded at export, which would contradict a new
// input size; onnxruntime infers them again), and the one writer of the messages a generated graph needs
// (model, graph, node, attribute, tensor, value info), which OnnxGraphBuilder (onnx-graph.ts) wraps. Not a
// general ONNX library.
import { endianness } from 'node:os';

export interface Field {
  field: number;
  wire: number;
  /** Offset of the field's key. */
  start: number;
  /** Offset of the value (after the key, and after the length for length-delimited fields). */
  valueStart: number;
  /** Offset one past the field's end. */
  end: number;
  /** Varint fields: the value. */
  varint?: number;
}

function readVarint(b: Uint8Array, i: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (i >= b.length) throw new Error('truncated protobuf varint');
    const c = b[i++] as number;
    result += (c & 0x7f) * mul;
    if (c < 0x80) return [result, i];
    mul *= 128;
  }
}

export function encodeVarint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  for (;;) {
    const c = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) out.push(c | 0x80);
    else {
      out.push(c);
      return Uint8Array.from(out);
    }
  }
}

/** The fields of the message occupying b[start, end). */
export function fields(b: Uint8Array, start = 0, end = b.length): Field[] {
  const out: Field[] = [];
  let i = start;
  while (i < end) {
    const s = i;
    const [key, afterKey] = readVarint(b, i);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    i = afterKey;
    if (wire === 0) {
      const [v, next] = readVarint(b, i);
      out.push({ field, wire, start: s, valueStart: i, end: next, varint: v });
      i = next;
    } else if (wire === 2) {
      const [len, next] = readVarint(b, i);
      out.push({ field, wire, start: s, valueStart: next, end: next + len });
      i = next + len;
    } else if (wire === 5) {
      out.push({ field, wire, start: s, valueStart: i, end: i + 4 });
      i += 4;
    } else if (wire === 1) {
      out.push({ field, wire, start: s, valueStart: i, end: i + 8 });
      i += 8;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    if (i > end) throw new Error('truncated protobuf field');
  }
  return out;
}

export function text(b: Uint8Array, f: Field): string {
  return Buffer.from(b.buffer, b.byteOffset + f.valueStart, f.end - f.valueStart).toString('utf8');
}

export function child(b: Uint8Array, f: Field, n: number): Field[] {
  return fields(b, f.valueStart, f.end).filter((c) => c.field === n);
}

/**
 * Rewrites a message's length-delimited field `target` (found among the top-level fields) with its sub-fields
 * filtered by `keep`; other bytes are copied unchanged.
 */
export function rewriteNested(b: Uint8Array, target: number, keep: (f: Field) => boolean): Uint8Array {
  return mapFields(b, 0, b.length, (f) =>
    f.field === target && f.wire === 2 ? bytesField(target, mapFields(b, f.valueStart, f.end, (c) => (keep(c) ? undefined : null))) : undefined,
  );
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function varintField(field: number, value: number): Uint8Array {
  return concatBytes([encodeVarint(field * 8), encodeVarint(value)]);
}

function bytesField(field: number, payload: Uint8Array): Uint8Array {
  return concatBytes([encodeVarint(field * 8 + 2), encodeVarint(payload.length), payload]);
}

/**
 * Re-encodes the message in b[start, end): `fn` returns replacement bytes for a field (its whole encoding),
 * null to drop it, or undefined to keep it as it is.
 */
export function mapFields(b: Uint8Array, start: number, end: number, fn: (f: Field) => Uint8Array | null | undefined): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields(b, start, end)) {
    const r = fn(f);
    if (r === undefined) parts.push(b.subarray(f.start, f.end));
    else if (r !== null) parts.push(r);
  }
  return concatBytes(parts);
}

const HALF_TO_FLOAT: Float32Array = (() => {
  const lut = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) lut[h] = sign * frac * 2 ** -24;
    else if (exp === 31) lut[h] = frac ? NaN : sign * Infinity;
    else lut[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return lut;
})();

/** The value of an IEEE half-precision number given by its 16 bits. */
export function halfToFloat(bits: number): number {
  return HALF_TO_FLOAT[bits & 0xffff] as number;
}

/** TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT64: 7, FLOAT16: 10 } as const;

/** TensorProto (data_type 2, raw_data 9) with FLOAT16 raw data → FLOAT; other tensors unchanged (undefined). */
function tensorToFloat32(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const tf = fields(b, start, end);
  if (tf.find((f) => f.field === 2)?.varint !== OnnxDataType.FLOAT16) return undefined;
  if (tf.some((f) => f.field === 4 || f.field === 13)) throw new Error('FLOAT16 tensors stored outside raw_data are not supported');
  return mapFields(b, start, end, (f) => {
    if (f.field === 2) return varintField(2, OnnxDataType.FLOAT);
    if (f.field !== 9) return undefined;
    const n = (f.end - f.valueStart) / 2;
    const out = new Float32Array(n);
    const view = new DataView(b.buffer, b.byteOffset + f.valueStart, f.end - f.valueStart);
    for (let i = 0; i < n; i++) out[i] = HALF_TO_FLOAT[view.getUint16(i * 2, true)] as number;
    return bytesField(9, new Uint8Array(out.buffer));
  });
}

/**
 * Converts a graph stored in half precision to single precision: FLOAT16 initializers and Constant values
 * become FLOAT, Casts to FLOAT16 become Casts to FLOAT (no-ops onnxruntime drops), recorded intermediate
 * shapes (value_info, which carry the old element types) are dropped. On CPUs without half-precision
 * kernels onnxruntime otherwise wraps every operator in casts of the activations, which costs time and memory.
 */
export function float16ToFloat32Model(model: Uint8Array): Uint8Array {
  const node = (f: Field): Uint8Array => {
    const nf = fields(model, f.valueStart, f.end);
    const opField = nf.find((x) => x.field === 4);
    const op = opField ? text(model, opField) : '';
    const payload = mapFields(model, f.valueStart, f.end, (a) => {
      if (a.field !== 5) return undefined;
      const attr = mapFields(model, a.valueStart, a.end, (x) => {
        if (op === 'Cast' && x.field === 3 && x.varint === OnnxDataType.FLOAT16) return varintField(3, OnnxDataType.FLOAT);
        if (x.field === 5) {
          const t = tensorToFloat32(model, x.valueStart, x.end);
          return t ? bytesField(5, t) : undefined;
        }
        return undefined;
      });
      return bytesField(5, attr);
    });
    return bytesField(1, payload);
  };
  return mapFields(model, 0, model.length, (f) => {
    if (f.field !== 7) return undefined;
    const graph = mapFields(model, f.valueStart, f.end, (g) => {
      if (g.field === 13) return null;
      if (g.field === 1) return node(g);
      if (g.field === 5) {
        const t = tensorToFloat32(model, g.valueStart, g.end);
        return t ? bytesField(5, t) : undefined;
      }
      return undefined;
    });
    return bytesField(7, graph);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Writing ONNX messages (field numbers from onnx/onnx.proto)
//
// Messages holding weights are kept as lists of chunks (their concatenation is the encoding) until modelProto
// joins everything: a tensor's raw data stays a view of the caller's array, so weights are copied once, into
// the finished model.

/** Varint of a signed 64-bit integer (two's complement, so negatives take ten bytes as protobuf requires). */
export function encodeInt64(n: number): Uint8Array {
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${n}`);
  if (n >= 0) return encodeVarint(n);
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function int64Field(field: number, value: number): Uint8Array {
  return concatBytes([encodeVarint(field * 8), encodeInt64(value)]);
}

const utf8 = new TextEncoder();

function stringField(field: number, value: string): Uint8Array {
  return bytesField(field, utf8.encode(value));
}

/** A fixed32 (wire type 5) float field. */
function floatField(field: number, value: number): Uint8Array {
  const out = new Uint8Array(5);
  out.set(encodeVarint(field * 8 + 5));
  new DataView(out.buffer).setFloat32(1, value, true);
  return out;
}

/** A length-delimited field as chunks: the key and length, then the payload's chunks uncopied. */
function delimitedChunks(field: number, payload: readonly Uint8Array[]): Uint8Array[] {
  const length = payload.reduce((n, p) => n + p.length, 0);
  return [encodeVarint(field * 8 + 2), encodeVarint(length), ...payload];
}

/**
 * TensorProto (dims 1, data_type 2, name 8, raw_data 9) as chunks, its values as little-endian raw_data: on
 * little-endian machines the last chunk is a view of `data`, which must then stay unchanged until the model is
 * encoded.
 */
export function tensorProto(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Uint8Array[] {
  const count = dims.reduce((n, d) => n * d, 1);
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
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
    ...dims.map((d) => int64Field(1, d)),
    varintField(2, data instanceof Float32Array ? OnnxDataType.FLOAT : OnnxDataType.INT64),
    stringField(8, name),
    ...delimitedChunks(9, [raw]),
  ];
}

/**
 * An attribute value: a plain number is an INT, a number[] INTS, a string STRING; floats must say so
 * (`{ f }`, `{ floats }`) because JavaScript cannot tell 1 from 1.0.
 */
export type AttrValue = number | readonly number[] | string | { f: number } | { floats: readonly number[] };

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

/** AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20. */
function attributeProto(name: string, value: AttrValue): Uint8Array {
  const parts: Uint8Array[] = [stringField(1, name)];
  if (typeof value === 'number') {
    parts.push(int64Field(3, value), varintField(20, ATTR_INT));
  } else if (typeof value === 'string') {
    parts.push(stringField(4, value), varintField(20, ATTR_STRING));
  } else if ('f' in value) {
    parts.push(floatField(2, value.f), varintField(20, ATTR_FLOAT));
  } else if ('floats' in value) {
    for (const v of value.floats) parts.push(floatField(7, v));
    parts.push(varintField(20, ATTR_FLOATS));
  } else {
    for (const v of value) parts.push(int64Field(8, v));
    parts.push(varintField(20, ATTR_INTS));
  }
  return concatBytes(parts);
}

/**
 * NodeProto (input 1, output 2, name 3, op_type 4, attribute 5): inputs ('' for an omitted optional input),
 * outputs, op type, attributes in the record's order, and an optional node name.
 */
export function nodeProto(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Readonly<Record<string, AttrValue>> = {},
  name?: string,
): Uint8Array {
  return concatBytes([
    ...inputs.map((i) => stringField(1, i)),
    ...outputs.map((o) => stringField(2, o)),
    ...(name === undefined ? [] : [stringField(3, name)]),
    stringField(4, opType),
    ...Object.entries(attributes).map(([k, v]) => bytesField(5, attributeProto(k, v))),
  ]);
}

/** A dimension: a fixed size, a named symbolic size, or null for unknown. */
export type OnnxDim = number | string | null;

/** ValueInfoProto (name 1, type 2) of a tensor (TypeProto.tensor_type 1: elem_type 1, shape 2) with the given element type and shape. */
export function tensorValueInfo(name: string, elemType: number, dims: readonly OnnxDim[]): Uint8Array {
  const shape = concatBytes(
    dims.map((d) => bytesField(1, d === null ? new Uint8Array(0) : typeof d === 'number' ? int64Field(1, d) : stringField(2, d))),
  );
  const tensorType = concatBytes([varintField(1, elemType), bytesField(2, shape)]);
  return concatBytes([stringField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

export interface GraphParts {
  name: string;
  /** Encoded NodeProtos, in an order where every value is made before it is read. */
  nodes: readonly Uint8Array[];
  /** TensorProtos as chunks (`tensorProto`). */
  initializers: readonly (readonly Uint8Array[])[];
  /** Encoded ValueInfoProtos. */
  inputs: readonly Uint8Array[];
  outputs: readonly Uint8Array[];
}

export interface ModelParts {
  graph: GraphParts;
  /** Default-domain opset version. */
  opset: number;
  /** IR version (8 reads opsets up to 18). */
  irVersion: number;
  producerName: string;
}

/** GraphProto (node 1, name 2, initializer 5, input 11, output 12) as chunks. */
function graphProto(g: GraphParts): Uint8Array[] {
  return [
    ...g.nodes.map((n) => bytesField(1, n)),
    stringField(2, g.name),
    ...g.initializers.flatMap((t) => delimitedChunks(5, t)),
    ...g.inputs.map((v) => bytesField(11, v)),
    ...g.outputs.map((v) => bytesField(12, v)),
  ];
}

/** ModelProto bytes (ir_version 1, producer_name 2, graph 7, opset_import 8: domain 1, version 2); the one copy of the weights. */
export function modelProto(m: ModelParts): Uint8Array {
  return concatBytes([
    varintField(1, m.irVersion),
    stringField(2, m.producerName),
    ...delimitedChunks(7, graphProto(m.graph)),
    bytesField(8, concatBytes([stringField(1, ''), varintField(2, m.opset)])),
  ]);
}
