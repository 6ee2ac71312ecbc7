// Noise schedulers for latent diffusion, transcribed from the diffusers implementations (EulerDiscrete,
// EulerAncestralDiscrete, DDIM, LCM) so that a model set sees the timesteps and sigmas it was trained and
// distilled with. Tables are computed in float64; diffusers computes alphas_cumprod in float32, so values agree
// to about 1e-6 relative.
import type { Rng } from './prng.js';
import type { SchedulerName } from './engine.js';

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction';

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'scaled_linear' | 'linear';
  /** Missing from a model set's config → the scheduler class's own default (see `defaultSpacing`). */
  timestepSpacing?: TimestepSpacing;
  stepsOffset: number;
  predictionType: PredictionType;
  /** DDIM/LCM: the "previous" alpha of the last step is 1 (true) or alphas_cumprod[0] (false). */
  setAlphaToOne: boolean;
  /** LCM: the distillation schedule length and the boundary-condition time scaling. */
  originalInferenceSteps: number;
  timestepScaling: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  stepsOffset: 0,
  predictionType: 'epsilon',
  setAlphaToOne: false,
  originalInferenceSteps: 50,
  timestepScaling: 10,
};

/** diffusers' per-class default for `timestep_spacing` when the config does not say. */
export function defaultSpacing(name: SchedulerName): TimestepSpacing {
  return name === 'euler' || name === 'euler_ancestral' ? 'linspace' : 'leading';
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** Reads a diffusers scheduler_config.json (any scheduler class: the shared keys are what matter). */
export function parseSchedulerConfig(json: Record<string, unknown>): SchedulerConfig {
  const d = DEFAULT_SCHEDULER_CONFIG;
  const spacing = json.timestep_spacing;
  const schedule = json.beta_schedule;
  const prediction = json.prediction_type;
  if (json.trained_betas !== undefined && json.trained_betas !== null) {
    throw new Error('scheduler_config: trained_betas are not supported');
  }
  if (schedule !== undefined && schedule !== 'scaled_linear' && schedule !== 'linear') {
    throw new Error(`scheduler_config: beta_schedule '${String(schedule)}' is not supported`);
  }
  if (prediction !== undefined && prediction !== 'epsilon' && prediction !== 'v_prediction') {
    throw new Error(`scheduler_config: prediction_type '${String(prediction)}' is not supported`);
  }
  return {
    numTrainTimesteps: num(json.num_train_timesteps, d.numTrainTimesteps),
    betaStart: num(json.beta_start, d.betaStart),
    betaEnd: num(json.beta_end, d.betaEnd),
    betaSchedule: (schedule as SchedulerConfig['betaSchedule'] | undefined) ?? d.betaSchedule,
    ...(spacing === 'leading' || spacing === 'trailing' || spacing === 'linspace' ? { timestepSpacing: spacing } : {}),
    stepsOffset: num(json.steps_offset, d.stepsOffset),
    predictionType: (prediction as PredictionType | undefined) ?? d.predictionType,
    setAlphaToOne: typeof json.set_alpha_to_one === 'boolean' ? json.set_alpha_to_one : d.setAlphaToOne,
    originalInferenceSteps: num(json.original_inference_steps, d.originalInferenceSteps),
    timestepScaling: num(json.timestep_scaling, d.timestepScaling),
  };
}

/** numpy's round: halves go to the even neighbour (np.round / torch.round), not up as Math.round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, n) (endpoint included). */
export function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  const out = Array.from({ length: n }, (_, i) => start + i * step);
  out[n - 1] = stop;
  return out;
}

export function alphasCumprod(cfg: SchedulerConfig): Float64Array {
  const n = cfg.numTrainTimesteps;
  const out = new Float64Array(n);
  const betas =
    cfg.betaSchedule === 'scaled_linear'
      ? linspace(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), n).map((b) => b * b)
      : linspace(cfg.betaStart, cfg.betaEnd, n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - (betas[i] as number);
    out[i] = prod;
  }
  return out;
}

/** sqrt((1 - ᾱ) / ᾱ) for every training timestep: the Karras-style noise level of each. */
export function trainSigmas(ac: Float64Array): Float64Array {
  return ac.map((a) => Math.sqrt((1 - a) / a));
}

/** np.interp over integer abscissae 0..n-1. */
function interp(x: number, table: Float64Array): number {
  if (x <= 0) return table[0] as number;
  const last = table.length - 1;
  if (x >= last) return table[last] as number;
  const i = Math.floor(x);
  const f = x - i;
  return (table[i] as number) * (1 - f) + (table[i + 1] as number) * f;
}

/**
 * Timesteps (descending) for the discrete schedulers, as diffusers' set_timesteps computes them. Euler keeps
 * fractional values for linspace spacing; DDIM casts to integers (`integer`).
 */
export function spacedTimesteps(
  steps: number,
  spacing: TimestepSpacing,
  cfg: SchedulerConfig,
  integer: boolean,
): number[] {
  const T = cfg.numTrainTimesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new RangeError(`steps must be an integer in 1..${T}`);
  let ts: number[];
  if (spacing === 'linspace') {
    ts = linspace(0, T - 1, steps).reverse();
    if (integer) ts = ts.map(roundHalfEven);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    ts = Array.from({ length: steps }, (_, i) => i * ratio + cfg.stepsOffset).reverse();
  } else {
    const ratio = T / steps;
    // np.arange(T, 0, -ratio): start + i*step while > 0.
    ts = [];
    for (let i = 0; T - i * ratio > 0; i++) ts.push(roundHalfEven(T - i * ratio) - 1);
  }
  return ts;
}

/** LCM's schedule: evenly spaced indices into the distillation schedule (diffusers ≥ 0.25). */
export function lcmTimesteps(steps: number, cfg: SchedulerConfig): number[] {
  const original = cfg.originalInferenceSteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > original) {
    throw new RangeError(`LCM steps must be an integer in 1..${original}`);
  }
  const k = Math.floor(cfg.numTrainTimesteps / original);
  const origin = Array.from({ length: original }, (_, i) => (i + 1) * k - 1).reverse();
  return Array.from({ length: steps }, (_, i) => origin[Math.floor((i * original) / steps)] as number);
}

/**
 * One sampler over a fixed schedule. Samples are batches of `batch` images laid out contiguously; stochastic
 * steps draw each image's noise from that image's own generator so results do not depend on batch layout.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** The values fed to the UNet's `timestep` input, one per step. */
  readonly timesteps: readonly number[];
  /** Multiplies the initial unit-variance noise for txt2img. */
  readonly initNoiseSigma: number;
  /** Factor applied to the latents before the UNet at step i (Euler: 1/sqrt(σ²+1)). */
  inputScale(i: number): number;
  /** The latents after step i, given the UNet's (guided) output. */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, rngs: readonly Rng[]): Float32Array;
  /** `original` noised to the level at which step i starts (img2img start, inpaint blending). */
  addNoise(original: Float32Array, noise: Float32Array, i: number): Float32Array;
}

function checkSizes(a: Float32Array, b: Float32Array, rngs: readonly Rng[]): number {
  if (a.length !== b.length) throw new Error('scheduler: model output and sample differ in size');
  if (rngs.length === 0 || a.length % rngs.length !== 0) throw new Error('scheduler: one generator per image');
  return a.length / rngs.length;
}

function fillNoise(rngs: readonly Rng[], per: number): Float32Array {
  const out = new Float32Array(per * rngs.length);
  rngs.forEach((rng, n) => rng.fillNormal(out.subarray(n * per, (n + 1) * per)));
  return out;
}

function eulerFamily(name: 'euler' | 'euler_ancestral', steps: number, cfg: SchedulerConfig): Scheduler {
  const spacing = cfg.timestepSpacing ?? defaultSpacing(name);
  const timesteps = spacedTimesteps(steps, spacing, cfg, false);
  const table = trainSigmas(alphasCumprod(cfg));
  const sigmas = [...timesteps.map((t) => interp(t, table)), 0];
  const maxSigma = Math.max(...sigmas);
  const v = cfg.predictionType === 'v_prediction';

  /** x0 predicted from the model output at noise level sigma. */
  const predictX0 = (out: number, x: number, sigma: number): number =>
    v ? out * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1) : x - sigma * out;

  return {
    name,
    timesteps,
    initNoiseSigma: spacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma,
    inputScale: (i) => 1 / Math.sqrt((sigmas[i] as number) ** 2 + 1),
    addNoise(original, noise, i) {
      const s = sigmas[i] as number;
      return original.map((x, k) => x + s * (noise[k] as number));
    },
    step(modelOutput, i, sample, rngs) {
      const per = checkSizes(modelOutput, sample, rngs);
      const sigma = sigmas[i] as number;
      const next = sigmas[i + 1] as number;
      const out = new Float32Array(sample.length);
      if (name === 'euler') {
        const dt = next - sigma;
        for (let k = 0; k < out.length; k++) {
          const x = sample[k] as number;
          const x0 = predictX0(modelOutput[k] as number, x, sigma);
          out[k] = x + ((x - x0) / sigma) * dt;
        }
        return out;
      }
      const sigmaUp = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma));
      const sigmaDown = Math.sqrt(next * next - sigmaUp * sigmaUp);
      const dt = sigmaDown - sigma;
      const noise = fillNoise(rngs, per);
      for (let k = 0; k < out.length; k++) {
        const x = sample[k] as number;
        const x0 = predictX0(modelOutput[k] as number, x, sigma);
        out[k] = x + ((x - x0) / sigma) * dt + (noise[k] as number) * sigmaUp;
      }
      return out;
    },
  };
}

/** x0 and ε from a model output at ᾱ_t, for ε- and v-prediction. */
function splitPrediction(v: boolean, out: number, x: number, a: number): [number, number] {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  if (v) return [sa * x - sb * out, sa * out + sb * x];
  return [(x - sb * out) / sa, out];
}

function ddim(steps: number, cfg: SchedulerConfig): Scheduler {
  const spacing = cfg.timestepSpacing ?? defaultSpacing('ddim');
  const timesteps = spacedTimesteps(steps, spacing, cfg, true);
  const ac = alphasCumprod(cfg);
  const finalAlpha = cfg.setAlphaToOne ? 1 : (ac[0] as number);
  const stride = Math.floor(cfg.numTrainTimesteps / steps);
  const v = cfg.predictionType === 'v_prediction';
  return {
    name: 'ddim',
    timesteps,
    initNoiseSigma: 1,
    inputScale: () => 1,
    addNoise(original, noise, i) {
      const a = ac[timesteps[i] as number] as number;
      const sa = Math.sqrt(a);
      const sb = Math.sqrt(1 - a);
      return original.map((x, k) => sa * x + sb * (noise[k] as number));
    },
    // eta = 0: the deterministic DDIM update (diffusers' default in the Stable Diffusion pipelines).
    step(modelOutput, i, sample, rngs) {
      checkSizes(modelOutput, sample, rngs);
      const t = timesteps[i] as number;
      const prev = t - stride;
      const a = ac[t] as number;
      const aPrev = prev >= 0 ? (ac[prev] as number) : finalAlpha;
      const out = new Float32Array(sample.length);
      const saPrev = Math.sqrt(aPrev);
      const sbPrev = Math.sqrt(1 - aPrev);
      for (let k = 0; k < out.length; k++) {
        const [x0, eps] = splitPrediction(v, modelOutput[k] as number, sample[k] as number, a);
        out[k] = saPrev * x0 + sbPrev * eps;
      }
      return out;
    },
  };
}

function lcm(steps: number, cfg: SchedulerConfig): Scheduler {
  const timesteps = lcmTimesteps(steps, cfg);
  const ac = alphasCumprod(cfg);
  const finalAlpha = cfg.setAlphaToOne ? 1 : (ac[0] as number);
  const v = cfg.predictionType === 'v_prediction';
  const sigmaData = 0.5;
  return {
    name: 'lcm',
    timesteps,
    initNoiseSigma: 1,
    inputScale: () => 1,
    addNoise(original, noise, i) {
      const a = ac[timesteps[i] as number] as number;
      const sa = Math.sqrt(a);
      const sb = Math.sqrt(1 - a);
      return original.map((x, k) => sa * x + sb * (noise[k] as number));
    },
    step(modelOutput, i, sample, rngs) {
      const per = checkSizes(modelOutput, sample, rngs);
      const t = timesteps[i] as number;
      const last = i === timesteps.length - 1;
      const prevT = last ? t : (timesteps[i + 1] as number);
      const a = ac[t] as number;
      const aPrev = prevT >= 0 ? (ac[prevT] as number) : finalAlpha;
      // Consistency-model boundary condition: c_skip → 1, c_out → 0 as t → 0.
      const scaled = t * cfg.timestepScaling;
      const cSkip = sigmaData ** 2 / (scaled ** 2 + sigmaData ** 2);
      const cOut = scaled / Math.sqrt(scaled ** 2 + sigmaData ** 2);
      const noise = last ? undefined : fillNoise(rngs, per);
      const out = new Float32Array(sample.length);
      const saPrev = Math.sqrt(aPrev);
      const sbPrev = Math.sqrt(1 - aPrev);
      for (let k = 0; k < out.length; k++) {
        const x = sample[k] as number;
        const [x0] = splitPrediction(v, modelOutput[k] as number, x, a);
        const denoised = cOut * x0 + cSkip * x;
        out[k] = noise ? saPrev * denoised + sbPrev * (noise[k] as number) : denoised;
      }
      return out;
    },
  };
}

export function createScheduler(name: SchedulerName, steps: number, cfg: SchedulerConfig = DEFAULT_SCHEDULER_CONFIG): Scheduler {
  switch (name) {
    case 'euler':
    case 'euler_ancestral':
      return eulerFamily(name, steps, cfg);
    case 'ddim':
      return ddim(steps, cfg);
    case 'lcm':
      return lcm(steps, cfg);
  }
}

/**
 * The step to start at for img2img: the last round(steps·strength) steps of the full schedule run, as in
 * diffusers' get_timesteps (which floors; rounding makes strength·steps = 2.5 run 3 steps, not 2).
 */
export function img2imgStart(steps: number, strength: number): number {
  const run = Math.min(steps, Math.max(0, Math.round(steps * strength)));
  return steps - run;
}

/** ω-embedding of the guidance scale for guidance-distilled UNets (LCM's `timestep_cond`). */
export function guidanceEmbedding(guidanceScale: number, dim: number): Float32Array {
  const w = (guidanceScale - 1) * 1000;
  const half = dim / 2;
  const out = new Float32Array(dim);
  const f = Math.log(10000) / (half - 1);
  for (let i = 0; i < half; i++) {
    const arg = w * Math.exp(-f * i);
    out[i] = Math.sin(arg);
    out[half + i] = Math.cos(arg);
  }
  return out;
}
