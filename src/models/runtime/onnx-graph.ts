// OnnxGraphBuilder: a convenience layer over the ONNX message writer of onnx-proto.ts for generated graphs
// (unique value names, constants, single-output operators), and the TensorFlow layout helpers that rebuild TF
// and Keras networks (face-api's SSD and landmark net, UpscalerJS's Keras models) as NCHW ONNX graphs for
// onnxruntime. Not a general ONNX library.
import { OnnxDataType, modelProto, nodeProto, tensorProto, tensorValueInfo, type AttrValue, type OnnxDim } from './onnx-proto.js';

export type ElemType = 'float32' | 'int64';

const ELEM_TYPE: Record<ElemType, number> = { float32: OnnxDataType.FLOAT, int64: OnnxDataType.INT64 };

export interface EncodeOptions {
  /** The default-domain opset the graph's operators are written for (default 13). */
  opset?: number;
  producer?: string;
  graphName?: string;
}

/**
 * Builds one graph: call `input`, `initializer`/`int64`/`scalar`, `node`/`op` in data-flow order, then `output` and
 * `encode`. Weight arrays are referenced, not copied, until `encode`: do not change them in between.
 */
export class OnnxGraphBuilder {
  private readonly nodes: Uint8Array[] = [];
  /** TensorProtos as chunks, the weights uncopied until `encode`. */
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

  input(name: string, type: ElemType, dims: readonly OnnxDim[]): string {
    this.names.add(name);
    this.inputs.push(tensorValueInfo(name, ELEM_TYPE[type], dims));
    return name;
  }

  output(name: string, type: ElemType, dims: readonly OnnxDim[]): void {
    this.outputs.push(tensorValueInfo(name, ELEM_TYPE[type], dims));
  }

  /** A float32 weight tensor; returns its (possibly de-duplicated) name. */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorProto(unique, dims, data));
    return unique;
  }

  /** An int64 constant (shapes, axes). */
  int64(name: string, values: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorProto(unique, [values.length], BigInt64Array.from(values, (v) => BigInt(v))));
    return unique;
  }

  /** A float32 scalar constant. */
  scalar(name: string, value: number): string {
    const unique = this.fresh(name);
    this.initializers.push(tensorProto(unique, [], Float32Array.of(value)));
    return unique;
  }

  /**
   * Adds a node; `outputs` are names or a count of fresh names derived from `name`. Returns the output names.
   * An empty string in `inputs` marks an omitted optional input, as ONNX does.
   */
  node(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, name?: string, outputs: number | readonly string[] = 1): string[] {
    const nodeName = this.fresh(name ?? opType);
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => (i === 0 ? nodeName : this.fresh(`${nodeName}:${i}`))) : [...outputs];
    for (const o of outs) this.names.add(o);
    this.nodes.push(nodeProto(opType, inputs, outs, attrs, nodeName));
    return outs;
  }

  /** `node` for single-output operators. */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name)[0] as string;
  }

  /** The ModelProto bytes (IR version 8). */
  encode(opts: EncodeOptions = {}): Uint8Array {
    return modelProto({
      graph: { name: opts.graphName ?? 'graph', nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs },
      opset: opts.opset ?? 13,
      irVersion: 8,
      producerName: opts.producer ?? 'atelier',
    });
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
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const span = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + span - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * Conv pads [top, left, bottom, right] of TF's 'same' at stride 1: (k − 1)·d in all per axis whatever the input
 * size, so they serve graphs whose height and width are dynamic.
 */
export function sameStride1Pads(kernel: readonly [number, number], dilations: readonly [number, number] = [1, 1]): [number, number, number, number] {
  // Any size gives the same at stride 1.
  const [top, bottom] = samePadding(1, kernel[0], 1, dilations[0]);
  const [left, right] = samePadding(1, kernel[1], 1, dilations[1]);
  return [top, left, bottom, right];
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
