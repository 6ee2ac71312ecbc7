// Seeded noise that is the same on every platform and in every batch layout: xoshiro128** (32-bit integer
// arithmetic only, so no BigInt and no float rounding in the state) seeded through splitmix32, and Box–Muller
// for normals. V8 computes Math.log/sin/cos with its own fdlibm port, so the normals are bit-identical on
// every machine that runs Node, whatever the CPU or libm.

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in (0, 1): never 0, so log() is always finite. */
  nextUniform(): number;
  /** Standard normal. */
  nextNormal(): number;
  /** Fills `out` with standard normals and returns it. */
  fillNormal(out: Float32Array): Float32Array;
}

/** splitmix32: spreads a small or sequential seed over the whole state space. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export function createRng(seed: number): Rng {
  const init = { s: seed >>> 0 };
  let a = splitmix32(init);
  let b = splitmix32(init);
  let c = splitmix32(init);
  let d = splitmix32(init);
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is the one fixed point of xoshiro

  let spare: number | undefined;

  function nextU32(): number {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  }

  function nextUniform(): number {
    return (nextU32() + 0.5) / 4294967296;
  }

  function nextNormal(): number {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(nextUniform()));
    const theta = 2 * Math.PI * nextUniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  return {
    nextU32,
    nextUniform,
    nextNormal,
    fillNormal(out) {
      for (let i = 0; i < out.length; i++) out[i] = nextNormal();
      return out;
    },
  };
}

/** The seed of image `index` in a request whose first image has `seed`. */
export function seedForImage(seed: number, index: number): number {
  return (seed + index) >>> 0;
}
