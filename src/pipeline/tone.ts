// Pure tone and colour maths behind the `adjustments` operation. Everything here works on numbers or typed
// arrays and knows nothing about sharp, so each curve can be unit-tested on its own.
//
// Conventions: "encoded" values are sRGB-companded in 0..1 (what an 8-bit file stores, divided by 255);
// "linear" values are scene-referred light in 0..1; luminance uses the Rec. 709 / sRGB primaries.

/** sRGB transfer function, encoded → linear (IEC 61966-2-1). */
export function srgbToLinear(v: number): number {
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

/** Inverse sRGB transfer function, linear → encoded. */
export function linearToSrgb(v: number): number {
  return v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055;
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Relative luminance of linear sRGB (Y of XYZ, D65 white = 1). */
export function luminance(r: number, g: number, b: number): number {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

const LAB_EPSILON = 216 / 24389;
const LAB_KAPPA = 24389 / 27;

/** CIE L* (0..100) of a relative luminance Y (0..1). */
export function lightnessFromLuminance(y: number): number {
  return y > LAB_EPSILON ? 116 * Math.cbrt(y) - 16 : LAB_KAPPA * y;
}

/** Relative luminance Y (0..1) of a CIE L* (0..100); the inverse of `lightnessFromLuminance`. */
export function luminanceFromLightness(l: number): number {
  const fy = (l + 16) / 116;
  return l > LAB_KAPPA * LAB_EPSILON ? fy * fy * fy : l / LAB_KAPPA;
}

/**
 * L* of luminance quantised to ENCODE_STEPS steps (index = round(Y × 65535)). Faster than a cube root per
 * pixel; the largest error (near black, where dL/dY is steepest) is below 0.01 L*.
 */
export const LIGHTNESS_LUT: Float32Array = (() => {
  const lut = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) lut[i] = lightnessFromLuminance(i / 65535);
  return lut;
})();

/** L* of a luminance in 0..1 through LIGHTNESS_LUT. */
export function fastLightness(y: number): number {
  return LIGHTNESS_LUT[Math.round(clamp01(y) * 65535)] as number;
}

/** 8-bit encoded value → linear light, one entry per code value. */
export const DECODE_LUT: Float32Array = (() => {
  const lut = new Float32Array(256);
  for (let i = 0; i < 256; i++) lut[i] = srgbToLinear(i / 255);
  return lut;
})();

/**
 * Linear light → 8-bit encoded value, indexed by round(linear × ENCODE_STEPS). 65,536 steps are needed
 * because the sRGB curve is steep near black: one 8-bit code there is only ~0.0003 of linear light.
 */
export const ENCODE_STEPS = 65535;
export const ENCODE_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(ENCODE_STEPS + 1);
  for (let i = 0; i <= ENCODE_STEPS; i++) lut[i] = Math.round(linearToSrgb(i / ENCODE_STEPS) * 255);
  return lut;
})();

/** Encodes one linear value (clamped to 0..1) to an 8-bit code through ENCODE_LUT. */
export function encode8(linear: number): number {
  const i = Math.round(clamp01(linear) * ENCODE_STEPS);
  return ENCODE_LUT[i] as number;
}

// ---------------------------------------------------------------------------------------------------------
// Exposure

/** Exposure range at ±100: ±2 EV, i.e. light × 4 or ÷ 4, the span of a typical raw-converter slider. */
export const EXPOSURE_MAX_EV = 2;

/** Converts the contract's exposure value (-100..100) to photographic stops (EV). */
export function exposureToEv(exposure: number): number {
  return (exposure / 100) * EXPOSURE_MAX_EV;
}

/** The factor linear light is multiplied by for an exposure value. */
export function exposureGain(exposure: number): number {
  return 2 ** exposureToEv(exposure);
}

// ---------------------------------------------------------------------------------------------------------
// Contrast

/** Steepness of the sigmoid at +100. 8 gives a strong but not posterised S-curve (slope ≈ 2 at mid-grey). */
const CONTRAST_MAX_STEEPNESS = 8;
/** Fraction of the tonal range kept at -100: blacks and whites meet 15 % / 85 % grey. */
const CONTRAST_MIN_RANGE = 0.3;

/**
 * Contrast curve on encoded values (perceptual space, so mid-grey is code 128), with both ends and
 * mid-grey fixed. Positive values use a normalised logistic S-curve: shadows go down, highlights up, and
 * nothing clips. Negative values compress the range linearly toward mid-grey, which lowers contrast
 * without the inverse-sigmoid's steep ends.
 */
export function contrastCurve(contrast: number): (v: number) => number {
  if (contrast === 0) return (v) => v;
  if (contrast < 0) {
    const k = 1 - (1 - CONTRAST_MIN_RANGE) * (-contrast / 100);
    return (v) => 0.5 + (v - 0.5) * k;
  }
  const beta = (contrast / 100) * CONTRAST_MAX_STEEPNESS;
  const sig = (v: number): number => 1 / (1 + Math.exp(-beta * (v - 0.5)));
  const lo = sig(0);
  const hi = sig(1);
  return (v) => (sig(v) - lo) / (hi - lo);
}

/**
 * One 256-entry table for the per-channel part of the adjustments: exposure (a gain in linear light),
 * then contrast (a curve on encoded values). Applying a table is O(1) per sample.
 */
export function buildToneLut(exposure: number, contrast: number): Uint8Array {
  const gain = exposureGain(exposure);
  const curve = contrastCurve(contrast);
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const exposed = linearToSrgb(clamp01(srgbToLinear(i / 255) * gain));
    lut[i] = Math.round(clamp01(curve(exposed)) * 255);
  }
  return lut;
}

/** Applies a 256-entry table to the colour channels of interleaved pixels, leaving alpha alone. */
export function applyLutToColour(
  data: Uint8Array,
  channels: number,
  lut: Uint8Array,
  out: Uint8Array = new Uint8Array(data.length),
): Uint8Array {
  const n = data.length;
  for (let i = 0; i < n; i += channels) {
    out[i] = lut[data[i] as number] as number;
    out[i + 1] = lut[data[i + 1] as number] as number;
    out[i + 2] = lut[data[i + 2] as number] as number;
    if (channels === 4) out[i + 3] = data[i + 3] as number;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Saturation

/** Chroma factor for the contract's saturation value: -100 → 0 (grey), 0 → 1, +100 → 2. */
export function saturationFactor(saturation: number): number {
  return 1 + saturation / 100;
}

/**
 * Largest t ≤ `wanted` such that y + t·(c − y) stays inside 0..1 for each of the three linear channels.
 * Used to scale chroma (saturation, tone mapping) without clipping one channel and so shifting the hue:
 * colours that would leave the gamut are pulled back along the line to their own grey.
 */
export function inGamutChromaScale(y: number, r: number, g: number, b: number, wanted: number): number {
  // Unrolled on purpose: this runs once per pixel and must not allocate.
  let t = limitChroma(wanted, y, r - y);
  t = limitChroma(t, y, g - y);
  t = limitChroma(t, y, b - y);
  return t < 0 ? 0 : t;
}

function limitChroma(t: number, y: number, d: number): number {
  if (d > 1e-9) return Math.min(t, (1 - y) / d);
  if (d < -1e-9) return Math.min(t, y / -d);
  return t;
}

/**
 * Scales chroma in linear light around each pixel's own luminance: c' = Y + s·(c − Y). Luminance and the
 * direction away from white (hue) are kept; s = 0 yields exact grey (R = G = B). Factors above 1 are
 * limited per pixel so saturated colours do not clip.
 */
export function scaleSaturation(
  data: Uint8Array,
  channels: number,
  factor: number,
  out: Uint8Array = new Uint8Array(data.length),
): Uint8Array {
  const n = data.length;
  for (let i = 0; i < n; i += channels) {
    const r = DECODE_LUT[data[i] as number] as number;
    const g = DECODE_LUT[data[i + 1] as number] as number;
    const b = DECODE_LUT[data[i + 2] as number] as number;
    const y = luminance(r, g, b);
    const s = factor > 1 ? inGamutChromaScale(y, r, g, b, factor) : factor;
    if (s === 0) {
      const grey = encode8(y);
      out[i] = grey;
      out[i + 1] = grey;
      out[i + 2] = grey;
    } else {
      out[i] = encode8(y + s * (r - y));
      out[i + 1] = encode8(y + s * (g - y));
      out[i + 2] = encode8(y + s * (b - y));
    }
    if (channels === 4) out[i + 3] = data[i + 3] as number;
  }
  return out;
}
