// Converts a TensorFlow.js layers model (a Keras model saved by tensorflowjs_converter: model.json topology plus
// weight data) to an ONNX model, so that it runs on onnxruntime's multi-threaded kernels instead of TF.js. Only
// the layers convolutional image networks such as the UpscalerJS RDNs are made of are handled: InputLayer,
// Conv2D, Activation, Concatenate, Add and UpSampling2D (nearest); anything else is refused with an error naming
// the layer, never approximated.
//
// Keras is channels-last (NHWC) while onnxruntime's fast CPU convolutions (its NCHWc kernels) want
// channels-first, so the ONNX graph is NCHW throughout: kernels are transposed HWIO → OIHW, channel-axis
// concatenations move to axis 1, and the caller feeds planar input. Height and width stay dynamic.
//
// One rewrite keeps memory low in upsampling networks: a nearest UpSampling2D by s whose only consumer is a
// stride-1 'same' Conv2D becomes a convolution at the low resolution with s² output phases followed by
// DepthToSpace. Output pixel (s·y + py, s·x + px) of the original sees upsampled rows s·y + py + dy, which are low
// resolution row y + ⌊(py + dy) / s⌋, and zero padding outside the upsampled image is zero padding outside the
// low-resolution one, so the two compute the same sums with the same weights while the upsampled activations
// (s² times the pixels of the widest tensor in the tail) are never made.
import type { io } from '@tensorflow/tfjs';
import { halfToFloat, type AttrValue } from './onnx-proto.js';
import { OnnxGraphBuilder, hwioToOihw, sameStride1Pads } from './onnx-graph.js';

export interface KerasToOnnxOptions {
  /** Rewrite nearest upsampling + stride-1 'same' convolution as a low-resolution convolution + DepthToSpace (default true). */
  foldUpsampling?: boolean;
}

const SUPPORTED = 'InputLayer, Conv2D, Activation, Concatenate, Add, UpSampling2D';
const OPSET = 17;

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}

/** One application of a layer: the tensors it reads and the one it makes (tensor keys are ONNX value names). */
interface Call {
  layer: KerasLayer;
  name: string;
  inputs: string[];
  output: string;
}

interface Weight {
  shape: number[];
  values: Float32Array;
}

// ---------------------------------------------------------------------------------------------------------
// Weights

function weightBuffer(data: io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out.buffer;
}

/** The weight tensors by name, as float32 (quantised weights dequantised the way TF.js does it). */
function decodeWeights(specs: readonly io.WeightsManifestEntry[], data: io.WeightData | undefined): Map<string, Weight> {
  const buffer = weightBuffer(data);
  const view = new DataView(buffer);
  const out = new Map<string, Weight>();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((n, d) => n * d, 1);
    const q = spec.quantization;
    const values = new Float32Array(count);
    let bytes: number;
    if (q) {
      bytes = count * (q.dtype === 'uint8' ? 1 : 2);
      if (offset + bytes > buffer.byteLength) throw new Error(`weight data ends before ${spec.name}`);
      for (let i = 0; i < count; i++) {
        if (q.dtype === 'float16') values[i] = halfToFloat(view.getUint16(offset + i * 2, true));
        else {
          const v = q.dtype === 'uint8' ? view.getUint8(offset + i) : view.getUint16(offset + i * 2, true);
          values[i] = v * (q.scale ?? 1) + (q.min ?? 0);
        }
      }
    } else if (spec.dtype === 'float32' || spec.dtype === 'int32') {
      bytes = count * 4;
      if (offset + bytes > buffer.byteLength) throw new Error(`weight data ends before ${spec.name}`);
      for (let i = 0; i < count; i++) {
        values[i] = spec.dtype === 'float32' ? view.getFloat32(offset + i * 4, true) : view.getInt32(offset + i * 4, true);
      }
    } else if (spec.dtype === 'bool') {
      bytes = count;
      for (let i = 0; i < count; i++) values[i] = view.getUint8(offset + i);
    } else {
      throw new Error(`weight ${spec.name} has dtype ${spec.dtype}, which the converter does not read`);
    }
    offset += bytes;
    out.set(spec.name, { shape: [...spec.shape], values });
  }
  return out;
}

function layerWeight(weights: Map<string, Weight>, layer: string, kind: string): Weight | undefined {
  const exact = weights.get(`${layer}/${kind}`);
  if (exact) return exact;
  // Nested models prefix weight names with the enclosing model's name.
  const suffix = `/${layer}/${kind}`;
  const found = [...weights.entries()].filter(([n]) => n.endsWith(suffix));
  if (found.length > 1) throw new Error(`several weights end in ${suffix}`);
  return found[0]?.[1];
}

// ---------------------------------------------------------------------------------------------------------
// Topology

interface ModelConfig {
  className: string;
  layers: KerasLayer[];
  inputs: [string, number][];
  outputs: [string, number][];
  name: string;
}

function isLayer(v: unknown): v is KerasLayer {
  return typeof v === 'object' && v !== null && typeof (v as KerasLayer).class_name === 'string' && typeof (v as KerasLayer).config === 'object';
}

function layerRefs(v: unknown, what: string): [string, number][] {
  if (!Array.isArray(v)) throw new Error(`model config has no ${what}`);
  // A single reference may be stored bare: ["name", 0, 0].
  const list = typeof v[0] === 'string' ? [v] : v;
  return list.map((r: unknown) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') throw new Error(`malformed ${what} entry ${JSON.stringify(r)}`);
    return [r[0], Number(r[1] ?? 0)];
  });
}

function modelConfig(topology: unknown): ModelConfig {
  if (typeof topology !== 'object' || topology === null) throw new Error('the model has no topology (a graph model, or weights only?)');
  const top = topology as Record<string, unknown>;
  const root = (top.model_config ?? top) as { class_name?: unknown; config?: unknown };
  const className = String(root.class_name ?? '');
  if (className === 'Sequential') {
    const config = root.config as { name?: string; layers?: unknown } | unknown[];
    const layers = (Array.isArray(config) ? config : config.layers) as unknown;
    if (!Array.isArray(layers) || !layers.every(isLayer)) throw new Error('Sequential model without a layer list');
    return { className, layers, inputs: [], outputs: [], name: Array.isArray(config) ? 'sequential' : config.name ?? 'sequential' };
  }
  if (className !== 'Functional' && className !== 'Model') throw new Error(`unsupported Keras model class ${className || '(none)'}`);
  const config = root.config as { name?: string; layers?: unknown; input_layers?: unknown; output_layers?: unknown };
  if (!Array.isArray(config.layers) || !config.layers.every(isLayer)) throw new Error('Functional model without a layer list');
  return {
    className,
    layers: config.layers,
    inputs: layerRefs(config.input_layers, 'input_layers'),
    outputs: layerRefs(config.output_layers, 'output_layers'),
    name: config.name ?? 'model',
  };
}

function layerName(layer: KerasLayer): string {
  const name = layer.name ?? (layer.config.name as string | undefined);
  if (!name) throw new Error(`a ${layer.class_name} layer has no name`);
  return name;
}

/** The ONNX value name of output `node` of a layer (layers applied more than once get one per call). */
function tensorKey(layer: string, node: number): string {
  return node === 0 ? layer : `${layer}:${node}`;
}

/** Every layer application in dependency order, with the graph's input layers and output tensors. */
function calls(model: ModelConfig): { calls: Call[]; inputs: KerasLayer[]; outputs: string[] } {
  const out: Call[] = [];
  if (model.className === 'Sequential') {
    const layers = [...model.layers];
    let input = layers[0];
    if (!input) throw new Error('empty Sequential model');
    if (input.class_name === 'InputLayer') layers.shift();
    else {
      // Keras stores the input shape on the first layer of a Sequential model built without an InputLayer.
      const shape = input.config.batch_input_shape ?? input.config.batchInputShape;
      if (!shape) throw new Error('Sequential model without an input shape');
      input = { class_name: 'InputLayer', name: 'input', config: { name: 'input', batch_input_shape: shape, dtype: input.config.dtype ?? 'float32' } };
    }
    let previous = layerName(input);
    for (const layer of layers) {
      const name = layerName(layer);
      out.push({ layer, name, inputs: [previous], output: name });
      previous = name;
    }
    return { calls: out, inputs: [input], outputs: [previous] };
  }

  const byName = new Map(model.layers.map((l) => [layerName(l), l]));
  const inputs = model.inputs.map(([name]) => {
    const layer = byName.get(name);
    if (!layer || layer.class_name !== 'InputLayer') throw new Error(`input ${name} is not an InputLayer`);
    return layer;
  });
  for (const layer of model.layers) {
    if (layer.class_name === 'InputLayer') continue;
    const name = layerName(layer);
    const nodes = layer.inbound_nodes;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new Error(`layer ${name} is not connected`);
    nodes.forEach((node: unknown, k) => {
      if (!Array.isArray(node)) throw new Error(`layer ${name}: unsupported inbound node format`);
      const ins = node.map((ref: unknown) => {
        if (!Array.isArray(ref) || typeof ref[0] !== 'string') throw new Error(`layer ${name}: unsupported inbound node format`);
        if (Number(ref[2] ?? 0) !== 0) throw new Error(`layer ${name} reads output ${ref[2]} of ${ref[0]}; only single-output layers are supported`);
        return tensorKey(ref[0], Number(ref[1] ?? 0));
      });
      out.push({ layer, name: tensorKey(name, k), inputs: ins, output: tensorKey(name, k) });
    });
  }
  // Keras saves layers in creation order, which is not always an order their calls can run in.
  const known = new Set(inputs.map(layerName));
  const ordered: Call[] = [];
  let pending = out;
  while (pending.length > 0) {
    const ready = pending.filter((c) => c.inputs.every((i) => known.has(i)));
    if (ready.length === 0) throw new Error(`unresolvable inputs for layer ${pending[0]!.name}`);
    for (const c of ready) {
      ordered.push(c);
      known.add(c.output);
    }
    pending = pending.filter((c) => !ready.includes(c));
  }
  return { calls: ordered, inputs, outputs: model.outputs.map(([name, node]) => tensorKey(name, node)) };
}

// ---------------------------------------------------------------------------------------------------------
// Layers

function pair(v: unknown, fallback: number, what: string, layer: string): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0)) return [v[0] as number, v[1] as number];
  throw new Error(`layer ${layer}: invalid ${what} ${JSON.stringify(v)}`);
}

function checkChannelsLast(layer: KerasLayer, name: string): void {
  const format = layer.config.data_format ?? 'channels_last';
  if (format !== 'channels_last') throw new Error(`layer ${name} (${layer.class_name}) uses data_format ${String(format)}; only channels_last is supported`);
}

const ACTIVATIONS: Record<string, string | null> = { linear: null, relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh' };

/** The ONNX operator for a Keras activation name (null for linear). */
function activationOp(value: unknown, layer: KerasLayer, name: string): string | null {
  const key = value === undefined || value === null ? 'linear' : value;
  if (typeof key !== 'string' || !(key in ACTIVATIONS)) {
    throw new Error(`layer ${name} (${layer.class_name}) has activation ${JSON.stringify(value)}; supported: ${Object.keys(ACTIVATIONS).join(', ')}`);
  }
  return ACTIVATIONS[key] as string | null;
}

/** Keras axis of a rank-4 NHWC tensor → the same axis in NCHW. */
function nchwAxis(axis: unknown, name: string): number {
  const a = axis === undefined ? -1 : Number(axis);
  if (!Number.isInteger(a) || a < -4 || a > 3) throw new Error(`layer ${name}: invalid axis ${String(axis)}`);
  return [0, 2, 3, 1][(a + 4) % 4] as number;
}

interface Conv {
  name: string;
  kernel: Weight;
  bias: Float32Array | undefined;
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
  activation: string | null;
}

function convOf(layer: KerasLayer, name: string, weights: Map<string, Weight>, inChannels: number): Conv {
  checkChannelsLast(layer, name);
  const c = layer.config;
  const padding = c.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') throw new Error(`layer ${name} (Conv2D) has padding ${String(padding)}; only same and valid are supported`);
  const kernelSize = pair(c.kernel_size, 1, 'kernel_size', name);
  const strides = pair(c.strides, 1, 'strides', name);
  const dilations = pair(c.dilation_rate, 1, 'dilation_rate', name);
  if (Number(c.groups ?? 1) !== 1) throw new Error(`layer ${name} (Conv2D) is a grouped convolution (groups ${String(c.groups)}), which is not supported`);
  const filters = Number(c.filters);
  const weightName = layerName(layer);
  const kernel = layerWeight(weights, weightName, 'kernel');
  if (!kernel) throw new Error(`no kernel weights for layer ${name}`);
  const [kh, kw, ki, ko] = kernel.shape;
  if (kernel.shape.length !== 4 || kh !== kernelSize[0] || kw !== kernelSize[1] || ki !== inChannels || ko !== filters) {
    throw new Error(`layer ${name}: kernel shape [${kernel.shape.join(', ')}] does not fit ${inChannels} input channels and ${filters} filters`);
  }
  let bias: Float32Array | undefined;
  if (c.use_bias ?? true) {
    const b = layerWeight(weights, weightName, 'bias');
    if (!b || b.values.length !== filters) throw new Error(`no bias of ${filters} values for layer ${name}`);
    bias = b.values;
  }
  return { name, kernel, bias, filters, kernelSize, strides, dilations, padding, activation: activationOp(c.activation, layer, name) };
}

/**
 * The kernel of `conv` applied after nearest upsampling by `s`, as a low-resolution kernel with s² phases of its
 * output channels in DepthToSpace (DCR) order: channel (py·s + px)·O + o.
 */
export function foldUpsampledKernel(kernel: Weight, bias: Float32Array | undefined, s: number): {
  weights: Float32Array;
  bias: Float32Array;
  shape: [number, number, number, number];
  pads: [number, number, number, number];
} {
  const [kh, kw, ki, ko] = kernel.shape as [number, number, number, number];
  const [pt, pl] = sameStride1Pads([kh, kw]);
  // Low-resolution offset of upsampled tap k for output phase p: ⌊(p + k − pad) / s⌋.
  const lo = (p: number, k: number, pad: number) => Math.floor((p + k - pad) / s);
  const minY = lo(0, 0, pt);
  const maxY = lo(s - 1, kh - 1, pt);
  const minX = lo(0, 0, pl);
  const maxX = lo(s - 1, kw - 1, pl);
  const KH = maxY - minY + 1;
  const KW = maxX - minX + 1;
  const O = s * s * ko;
  const weights = new Float32Array(O * ki * KH * KW);
  const folded = new Float32Array(O);
  for (let py = 0; py < s; py++) {
    for (let px = 0; px < s; px++) {
      const phase = (py * s + px) * ko;
      for (let o = 0; o < ko; o++) folded[phase + o] = bias?.[o] ?? 0;
      for (let y = 0; y < kh; y++) {
        const ly = lo(py, y, pt) - minY;
        for (let x = 0; x < kw; x++) {
          const lx = lo(px, x, pl) - minX;
          for (let i = 0; i < ki; i++) {
            for (let o = 0; o < ko; o++) {
              const at = (((phase + o) * ki + i) * KH + ly) * KW + lx;
              weights[at] = (weights[at] as number) + (kernel.values[((y * kw + x) * ki + i) * ko + o] as number);
            }
          }
        }
      }
    }
  }
  return { weights, bias: folded, shape: [O, ki, KH, KW], pads: [-minY, -minX, maxY, maxX] };
}

// ---------------------------------------------------------------------------------------------------------
// Conversion

/** Converts TF.js layers-model artifacts (topology and weights) to the bytes of an ONNX model (opset 17, NCHW float32). */
export function kerasToOnnx(artifacts: io.ModelArtifacts, options: KerasToOnnxOptions = {}): Uint8Array {
  const fold = options.foldUpsampling ?? true;
  const model = modelConfig(artifacts.modelTopology);
  const weights = decodeWeights(artifacts.weightSpecs ?? [], artifacts.weightData);
  const plan = calls(model);

  const g = new OnnxGraphBuilder();
  // Keras tensor → ONNX value holding it, and its channel count.
  const value = new Map<string, string>();
  const channels = new Map<string, number>();
  // Upsamplings left for their convolution to fold: output tensor → (input value, factor).
  const deferred = new Map<string, { from: string; factor: number }>();
  const consumers = new Map<string, number>();
  for (const c of plan.calls) for (const i of c.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of plan.outputs) consumers.set(o, (consumers.get(o) ?? 0) + 1);
  const callOf = new Map(plan.calls.flatMap((c) => c.inputs.map((i) => [i, c] as const)));

  const read = (key: string): string => value.get(key) as string;

  for (const input of plan.inputs) {
    const name = layerName(input);
    const shape = (input.config.batch_input_shape ?? input.config.batchInputShape ?? input.config.batch_shape) as (number | null)[] | undefined;
    if (!Array.isArray(shape) || shape.length !== 4) throw new Error(`input ${name} must be a batch of images [batch, height, width, channels]; got ${JSON.stringify(shape)}`);
    const c = shape[3];
    if (typeof c !== 'number') throw new Error(`input ${name} has no fixed channel count`);
    const dtype = input.config.dtype ?? 'float32';
    if (dtype !== 'float32') throw new Error(`input ${name} has dtype ${String(dtype)}; only float32 is supported`);
    const dim = (d: number | null | undefined, symbol: string) => (typeof d === 'number' ? d : symbol);
    value.set(name, g.input(name, 'float32', [dim(shape[0], 'batch'), c, dim(shape[1], `${name}_height`), dim(shape[2], `${name}_width`)]));
    channels.set(name, c);
  }

  for (const call of plan.calls) {
    const { layer, name } = call;
    const cls = layer.class_name;
    const ins = call.inputs;
    const first = ins[0] as string;
    if (cls === 'Conv2D') {
      if (ins.length !== 1) throw new Error(`layer ${name} (Conv2D) has ${ins.length} inputs`);
      const conv = convOf(layer, name, weights, channels.get(first) as number);
      const up = deferred.get(first);
      const out = conv.activation ? `${name}/conv` : name;
      if (up) {
        const f = foldUpsampledKernel(conv.kernel, conv.bias, up.factor);
        const w = g.initializer(`${name}/kernel_folded`, f.shape, f.weights);
        const b = g.initializer(`${name}/bias_folded`, [f.shape[0]], f.bias);
        const phases = `${name}/phases`;
        g.node('Conv', [up.from, w, b], { kernel_shape: [f.shape[2], f.shape[3]], pads: f.pads }, `${name}/folded`, [phases]);
        g.node('DepthToSpace', [phases], { blocksize: up.factor, mode: 'DCR' }, `${name}/depth_to_space`, [out]);
      } else {
        const [kh, kw, ki, ko] = conv.kernel.shape as [number, number, number, number];
        const w = g.initializer(`${name}/kernel`, [ko, ki, kh, kw], hwioToOihw(conv.kernel.values, kh, kw, ki, ko));
        const inputs = [read(first), w];
        if (conv.bias) inputs.push(g.initializer(`${name}/bias`, [conv.filters], conv.bias));
        const attrs: Record<string, AttrValue> = { kernel_shape: conv.kernelSize, strides: conv.strides, dilations: conv.dilations };
        if (conv.padding === 'same') {
          // At stride 1 the padding does not depend on the input size; otherwise let onnxruntime place it as TF does.
          if (conv.strides[0] === 1 && conv.strides[1] === 1) attrs.pads = sameStride1Pads(conv.kernelSize, conv.dilations);
          else attrs.auto_pad = 'SAME_UPPER';
        }
        g.node('Conv', inputs, attrs, name, [out]);
      }
      if (conv.activation) g.node(conv.activation, [out], {}, `${name}/activation`, [name]);
      value.set(call.output, name);
      channels.set(call.output, conv.filters);
    } else if (cls === 'Activation') {
      const op = activationOp(layer.config.activation, layer, name);
      if (op) g.node(op, [read(first)], {}, name, [name]);
      value.set(call.output, op ? name : read(first));
      channels.set(call.output, channels.get(first) as number);
    } else if (cls === 'Concatenate') {
      const axis = nchwAxis(layer.config.axis, name);
      if (axis === 0) throw new Error(`layer ${name} (Concatenate) joins along the batch axis, which is not supported`);
      g.node('Concat', ins.map(read), { axis }, name, [name]);
      value.set(call.output, name);
      channels.set(call.output, axis === 1 ? ins.reduce((n, i) => n + (channels.get(i) as number), 0) : (channels.get(first) as number));
    } else if (cls === 'Add') {
      if (ins.length < 2) throw new Error(`layer ${name} (Add) needs at least two inputs`);
      g.node(ins.length === 2 ? 'Add' : 'Sum', ins.map(read), {}, name, [name]);
      value.set(call.output, name);
      channels.set(call.output, channels.get(first) as number);
    } else if (cls === 'UpSampling2D') {
      checkChannelsLast(layer, name);
      const interpolation = layer.config.interpolation ?? 'nearest';
      if (interpolation !== 'nearest') throw new Error(`layer ${name} (UpSampling2D) uses ${String(interpolation)} interpolation; only nearest is supported`);
      const [sh, sw] = pair(layer.config.size, 2, 'size', name);
      channels.set(call.output, channels.get(first) as number);
      const next = callOf.get(call.output);
      const foldable =
        fold &&
        sh === sw &&
        consumers.get(call.output) === 1 &&
        next?.layer.class_name === 'Conv2D' &&
        (next.layer.config.padding ?? 'valid') === 'same' &&
        pair(next.layer.config.strides, 1, 'strides', next.name).every((v) => v === 1) &&
        pair(next.layer.config.dilation_rate, 1, 'dilation_rate', next.name).every((v) => v === 1);
      if (foldable) {
        deferred.set(call.output, { from: read(first), factor: sh });
        continue;
      }
      const scales = g.initializer(`${name}/scales`, [4], Float32Array.from([1, 1, sh, sw]));
      // Keras repeats each pixel s times: source index ⌊y / s⌋, which is Resize's asymmetric + floor rounding.
      g.node('Resize', [read(first), '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, name, [name]);
      value.set(call.output, name);
    } else if (cls === 'InputLayer') {
      throw new Error(`InputLayer ${name} is applied to another tensor, which is not supported`);
    } else {
      throw new Error(`unsupported Keras layer ${cls} (${name}): the converter handles ${SUPPORTED}`);
    }
  }

  const outputNames = new Set<string>();
  for (const key of plan.outputs) {
    let v = value.get(key);
    if (v === undefined) throw new Error(`output ${key} is not produced by the graph`);
    // Graph outputs are named after their Keras layers; a linear Activation (or an input) needs an Identity.
    if (v !== key || outputNames.has(key)) {
      const name = outputNames.has(key) ? `${key}:output${outputNames.size}` : key;
      g.node('Identity', [v], {}, `${name}/identity`, [name]);
      v = name;
    }
    outputNames.add(v);
    g.output(v, 'float32', [null, channels.get(key) as number, null, null]);
  }
  return g.encode({ opset: OPSET, producer: 'atelier-keras-to-onnx', graphName: model.name });
}
