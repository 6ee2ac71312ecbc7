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
