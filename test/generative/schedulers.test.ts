// Reference tables: diffusers' set_timesteps with Stable Diffusion 1.5's scheduler_config.json (scaled_linear
// betas 0.00085..0.012, 1000 training steps, steps_offset 1, set_alpha_to_one false), and the class defaults
// for timestep_spacing (Euler: linspace; DDIM, LCM: leading). Values as diffusers prints them (float32
// alphas_cumprod), e.g. EulerDiscreteScheduler(30).sigmas[0] = 14.6146; LCM 4 steps [999, 759, 499, 259].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alphasCumprod,
  createScheduler,
  guidanceEmbedding,
  img2imgStart,
  lcmTimesteps,
  parseSchedulerConfig,
  roundHalfEven,
  spacedTimesteps,
  trainSigmas,
} from '../../src/generative/schedulers.js';
import { createRng } from '../../src/generative/prng.js';
import { SD15_SCHEDULER_CONFIG } from '../support/onnx-builder.js';

const sd15 = parseSchedulerConfig(SD15_SCHEDULER_CONFIG);
const turbo = parseSchedulerConfig({ ...SD15_SCHEDULER_CONFIG, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', steps_offset: 0 });

function close(actual: readonly number[], expected: readonly number[], tol: number, what: string): void {
  assert.equal(actual.length >= expected.length, true, `${what}: too short`);
  expected.forEach((e, i) => assert.ok(Math.abs((actual[i] as number) - e) <= tol, `${what}[${i}] = ${actual[i]}, expected ${e}`));
}

test('alphas_cumprod of the scaled_linear schedule', () => {
  const ac = alphasCumprod(sd15);
  assert.equal(ac.length, 1000);
  assert.ok(Math.abs(ac[0]! - 0.99915) < 1e-7);
  assert.ok(Math.abs(ac[999]! - 0.0046600895) < 1e-8);
  const sigmas = trainSigmas(ac);
  assert.ok(Math.abs(sigmas[999]! - 14.6146) < 1e-3);
  assert.ok(Math.abs(sigmas[0]! - 0.0292) < 1e-4);
});

test('EulerDiscrete, 30 steps, linspace (SD 1.5 config): timesteps and sigmas', () => {
  const s = createScheduler('euler', 30, sd15);
  close(s.timesteps, [999, 964.5517, 930.1034, 895.6552], 1e-4, 'timesteps');
  assert.equal(s.timesteps.length, 30);
  assert.equal(s.timesteps[29], 0);
  assert.deepEqual(s.timesteps.slice(0, 3).map(Math.round), [999, 965, 930]);
  // sigmas as diffusers lists them: 14.6146, 11.9176, 9.8142, 8.1585, ..., 0.1835, 0.0292, 0
  const sigmas = Array.from({ length: 30 }, (_, i) => Math.sqrt(1 / s.inputScale(i) ** 2 - 1));
  close(sigmas, [14.614655, 11.917572, 9.814183, 8.158473], 2e-4, 'sigmas');
  close(sigmas.slice(27), [0.272184, 0.183457, 0.029168], 1e-5, 'last sigmas');
  // linspace spacing: init noise sigma is the largest sigma itself.
  assert.ok(Math.abs(s.initNoiseSigma - 14.6146) < 1e-3);
});

test('Euler leading spacing: init noise sigma sqrt(σmax² + 1), offset timesteps', () => {
  const s = createScheduler('euler', 30, { ...sd15, timestepSpacing: 'leading' });
  assert.deepEqual(s.timesteps.slice(0, 3), [958, 925, 892]);
  assert.equal(s.timesteps[29], 1);
  const sigma0 = Math.sqrt(1 / s.inputScale(0) ** 2 - 1);
  assert.ok(Math.abs(s.initNoiseSigma - Math.sqrt(sigma0 ** 2 + 1)) < 1e-9);
});

test('DDIM, 50 steps, leading with steps_offset 1: [981, 961, ..., 1]', () => {
  const s = createScheduler('ddim', 50, sd15);
  assert.deepEqual(s.timesteps.slice(0, 4), [981, 961, 941, 921]);
  assert.equal(s.timesteps[49], 1);
  assert.equal(s.initNoiseSigma, 1);
});

test('trailing spacing (SD-Turbo config) rounds halves to even as numpy does', () => {
  assert.deepEqual(spacedTimesteps(4, 'trailing', turbo, true), [999, 749, 499, 249]);
  assert.deepEqual(spacedTimesteps(1, 'trailing', turbo, true), [999]);
  assert.deepEqual(
    spacedTimesteps(16, 'trailing', turbo, true),
    [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61],
  );
  const e = createScheduler('euler', 4, turbo);
  const sigmas = [0, 1, 2, 3].map((i) => Math.sqrt(1 / e.inputScale(i) ** 2 - 1));
  close(sigmas, [14.614655, 4.081732, 1.612887, 0.693205], 2e-4, 'trailing sigmas');
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(-0.5), -0);
});

test('LCM (original_inference_steps 50): 4 steps [999, 759, 499, 259], 8 steps', () => {
  assert.deepEqual(lcmTimesteps(4, sd15), [999, 759, 499, 259]);
  assert.deepEqual(lcmTimesteps(8, sd15), [999, 879, 759, 639, 499, 379, 259, 139]);
  assert.deepEqual(lcmTimesteps(1, sd15), [999]);
  assert.throws(() => lcmTimesteps(51, sd15), RangeError);
});

test('Euler step with the true noise lands on x0 + σ_next·ε', () => {
  const s = createScheduler('euler', 10, sd15);
  const x0 = new Float32Array([0.3, -0.7, 1.2, 0]);
  const eps = new Float32Array([1, -0.5, 0.25, 2]);
  const i = 3;
  const sigma = Math.sqrt(1 / s.inputScale(i) ** 2 - 1);
  const sigmaNext = Math.sqrt(1 / s.inputScale(i + 1) ** 2 - 1);
  const x = x0.map((v, k) => v + sigma * eps[k]!);
  const out = s.step(eps, i, x, [createRng(1)]);
  out.forEach((v, k) => assert.ok(Math.abs(v - (x0[k]! + sigmaNext * eps[k]!)) < 1e-5));
  // The last step goes to σ = 0: exactly x0.
  const last = s.step(eps, 9, x0.map((v, k) => v + Math.sqrt(1 / s.inputScale(9) ** 2 - 1) * eps[k]!), [createRng(1)]);
  last.forEach((v, k) => assert.ok(Math.abs(v - x0[k]!) < 1e-5));
});

test('DDIM step (eta 0) with the true noise moves to the previous timestep exactly', () => {
  const s = createScheduler('ddim', 50, sd15);
  const ac = alphasCumprod(sd15);
  const x0 = new Float32Array([0.5, -0.25, 0.1]);
  const eps = new Float32Array([-1, 0.3, 2]);
  const a = ac[981]!;
  const x = x0.map((v, k) => Math.sqrt(a) * v + Math.sqrt(1 - a) * eps[k]!);
  const out = s.step(eps, 0, x, [createRng(1)]);
  const aPrev = ac[961]!;
  out.forEach((v, k) => assert.ok(Math.abs(v - (Math.sqrt(aPrev) * x0[k]! + Math.sqrt(1 - aPrev) * eps[k]!)) < 1e-5));
  // Last step (t = 1 → prev −19): alpha of the final step is alphas_cumprod[0] (set_alpha_to_one false).
  const a1 = ac[1]!;
  const x1 = x0.map((v, k) => Math.sqrt(a1) * v + Math.sqrt(1 - a1) * eps[k]!);
  const end = s.step(eps, 49, x1, [createRng(1)]);
  end.forEach((v, k) => assert.ok(Math.abs(v - (Math.sqrt(ac[0]!) * x0[k]! + Math.sqrt(1 - ac[0]!) * eps[k]!)) < 1e-5));
});

test('v-prediction (SD 2.x): DDIM recovers x0 and ε from v', () => {
  const cfg = { ...sd15, predictionType: 'v_prediction' as const };
  const s = createScheduler('ddim', 50, cfg);
  const ac = alphasCumprod(cfg);
  const a = ac[981]!;
  const x0 = 0.4;
  const eps = -1.3;
  const x = Math.sqrt(a) * x0 + Math.sqrt(1 - a) * eps;
  const v = Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0;
  const out = s.step(new Float32Array([v]), 0, new Float32Array([x]), [createRng(1)]);
  const aPrev = ac[961]!;
  assert.ok(Math.abs(out[0]! - (Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps)) < 1e-5);
});

test('LCM: boundary-condition scalings and the final step returns the denoised sample', () => {
  const s = createScheduler('lcm', 4, sd15);
  const ac = alphasCumprod(sd15);
  const t = 259;
  const a = ac[t]!;
  const x = new Float32Array([0.8]);
  const eps = new Float32Array([0.2]);
  const x0 = (0.8 - Math.sqrt(1 - a) * 0.2) / Math.sqrt(a);
  const scaled = t * 10;
  const cSkip = 0.25 / (scaled ** 2 + 0.25);
  const cOut = scaled / Math.sqrt(scaled ** 2 + 0.25);
  const out = s.step(eps, 3, x, [createRng(1)]);
  assert.ok(Math.abs(out[0]! - (cOut * x0 + cSkip * 0.8)) < 1e-6);
});

test('ancestral steps draw noise per image: the batch layout does not change an image', () => {
  const s = createScheduler('euler_ancestral', 20, sd15);
  const per = 16;
  const sample = new Float32Array(per * 2).map((_, k) => Math.sin(k));
  const out = new Float32Array(per * 2).map((_, k) => Math.cos(k));
  const both = s.step(out, 5, sample, [createRng(7), createRng(8)]);
  const second = s.step(out.subarray(per), 5, sample.subarray(per), [createRng(8)]);
  assert.deepEqual(both.subarray(per), second);
  const again = s.step(out, 5, sample, [createRng(7), createRng(8)]);
  assert.deepEqual(again, both);
  const other = s.step(out, 5, sample, [createRng(9), createRng(8)]);
  assert.notDeepEqual(other.subarray(0, per), both.subarray(0, per));
});

test('img2img start step: round(steps × strength) steps run', () => {
  assert.equal(img2imgStart(30, 1), 0);
  assert.equal(img2imgStart(30, 0), 30);
  assert.equal(img2imgStart(30, 0.5), 15);
  assert.equal(img2imgStart(25, 0.3), 25 - 8); // 7.5 → 8
  assert.equal(img2imgStart(4, 0.6), 4 - 2); // 2.4 → 2
});

test('guidance-scale embedding (LCM timestep_cond): sin/cos halves of w·1000', () => {
  const e = guidanceEmbedding(8.5, 256);
  assert.equal(e.length, 256);
  assert.ok(Math.abs(e[0]! - Math.sin(7500)) < 1e-4);
  assert.ok(Math.abs(e[128]! - Math.cos(7500)) < 1e-6);
  assert.ok(Math.abs(e[127]! - Math.sin(7500 * Math.exp(-Math.log(10000)))) < 1e-6);
});

test('scheduler_config parsing: unknown schedules refused, defaults filled', () => {
  assert.throws(() => parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2' }));
  const cfg = parseSchedulerConfig({});
  assert.equal(cfg.numTrainTimesteps, 1000);
  assert.equal(cfg.timestepSpacing, undefined);
  assert.equal(parseSchedulerConfig({ timestep_spacing: 'trailing' }).timestepSpacing, 'trailing');
});
