// The few protobuf operations Atelier needs on ONNX models: walking fields, patching fixed-length values in
// place, dropping the graph's value_info (intermediate shapes recorded at export, which would contradict a new
// input size; onnxruntime infers them again), and a small writer for the messages a converted graph needs
// (model, graph, node, attribute, tensor, value info). Not a general ONNX library.

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
  const parts: Uint8Array[] = [];
  for (const f of fields(b)) {
    if (f.field !== target || f.wire !== 2) {
      parts.push(b.subarray(f.start, f.end));
      continue;
    }
    const inner = fields(b, f.valueStart, f.end).filter(keep).map((c) => b.subarray(c.start, c.end));
    const length = inner.reduce((n, p) => n + p.length, 0);
    parts.push(encodeVarint(target * 8 + 2), encodeVarint(length), ...inner);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function varintField(field: number, value: number): Uint8Array {
  return concatBytes([encodeVarint(field * 8), encodeVarint(value)]);
}

export function bytesField(field: number, payload: Uint8Array): Uint8Array {
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

const FLOAT = 1;
const FLOAT16 = 10;

/** TensorProto (data_type 2, raw_data 9) with FLOAT16 raw data → FLOAT; other tensors unchanged (undefined). */
function tensorToFloat32(b: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const tf = fields(b, start, end);
  if (tf.find((f) => f.field === 2)?.varint !== FLOAT16) return undefined;
  if (tf.some((f) => f.field === 4 || f.field === 13)) throw new Error('FLOAT16 tensors stored outside raw_data are not supported');
  return mapFields(b, start, end, (f) => {
    if (f.field === 2) return varintField(2, FLOAT);
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
        if (op === 'Cast' && x.field === 3 && x.varint === FLOAT16) return varintField(3, FLOAT);
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

export function int64Field(field: number, value: number): Uint8Array {
  return concatBytes([encodeVarint(field * 8), encodeInt64(value)]);
}

export function stringField(field: number, value: string): Uint8Array {
  return bytesField(field, new TextEncoder().encode(value));
}

export function floatField(field: number, value: number): Uint8Array {
  const out = new Uint8Array(5);
  out.set(encodeVarint(field * 8 + 5));
  new DataView(out.buffer).setFloat32(1, value, true);
  return out;
}

export const OnnxDataType = { FLOAT: 1 } as const;

/** A TensorProto holding float32 values (raw_data, little-endian as ONNX requires). */
export function floatTensorProto(name: string, dims: readonly number[], values: Float32Array): Uint8Array {
  const count = dims.reduce((n, d) => n * d, 1);
  if (count !== values.length) throw new Error(`tensor ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return concatBytes([...dims.map((d) => int64Field(1, d)), varintField(2, OnnxDataType.FLOAT), stringField(8, name), bytesField(9, raw)]);
}

// AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
export function intAttribute(name: string, value: number): Uint8Array {
  return concatBytes([stringField(1, name), int64Field(3, value), varintField(20, 2)]);
}

export function intsAttribute(name: string, values: readonly number[]): Uint8Array {
  return concatBytes([stringField(1, name), ...values.map((v) => int64Field(8, v)), varintField(20, 7)]);
}

export function floatAttribute(name: string, value: number): Uint8Array {
  return concatBytes([stringField(1, name), floatField(2, value), varintField(20, 1)]);
}

export function stringAttribute(name: string, value: string): Uint8Array {
  return concatBytes([stringField(1, name), stringField(4, value), varintField(20, 3)]);
}

/** NodeProto: inputs ('' for an omitted optional input), outputs, op type and encoded attributes. */
export function nodeProto(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly Uint8Array[] = [], name?: string): Uint8Array {
  return concatBytes([
    ...inputs.map((i) => stringField(1, i)),
    ...outputs.map((o) => stringField(2, o)),
    ...(name === undefined ? [] : [stringField(3, name)]),
    stringField(4, opType),
    ...attributes.map((a) => bytesField(5, a)),
  ]);
}

/** A dimension: a fixed size, a named symbolic size, or null for unknown. */
export type OnnxDim = number | string | null;

/** ValueInfoProto of a tensor with the given element type and shape. */
export function tensorValueInfo(name: string, elemType: number, dims: readonly OnnxDim[]): Uint8Array {
  const shape = concatBytes(
    dims.map((d) => bytesField(1, d === null ? new Uint8Array(0) : typeof d === 'number' ? int64Field(1, d) : stringField(2, d))),
  );
  const tensorType = concatBytes([varintField(1, elemType), bytesField(2, shape)]);
  return concatBytes([stringField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

export interface GraphParts {
  name: string;
  nodes: readonly Uint8Array[];
  initializers: readonly Uint8Array[];
  inputs: readonly Uint8Array[];
  outputs: readonly Uint8Array[];
}

/** GraphProto: node 1, name 2, initializer 5, input 11, output 12. */
export function graphProto(g: GraphParts): Uint8Array {
  return concatBytes([
    ...g.nodes.map((n) => bytesField(1, n)),
    stringField(2, g.name),
    ...g.initializers.map((t) => bytesField(5, t)),
    ...g.inputs.map((v) => bytesField(11, v)),
    ...g.outputs.map((v) => bytesField(12, v)),
  ]);
}

export interface ModelParts {
  graph: Uint8Array;
  /** Default-domain opset version. */
  opset: number;
  /** IR version matching the opset (8 for opsets 15-18). */
  irVersion: number;
  producerName: string;
}

/** ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2). */
export function modelProto(m: ModelParts): Uint8Array {
  return concatBytes([
    varintField(1, m.irVersion),
    stringField(2, m.producerName),
    bytesField(7, m.graph),
    bytesField(8, concatBytes([stringField(1, ''), varintField(2, m.opset)])),
  ]);
}
