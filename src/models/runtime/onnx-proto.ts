// The few protobuf operations needed to adapt an ONNX graph's fixed input size: walking fields, patching
// fixed-length values in place, and dropping the graph's value_info (intermediate shapes recorded at export,
// which would contradict a new input size; onnxruntime infers them again). Not a general ONNX library.

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
