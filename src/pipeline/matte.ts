// Pure maths on single-channel float planes (row-major, width × height) used to turn a network's low-resolution
// foreground probability into a clean full-resolution alpha matte and to blur or composite around it.
// Everything here is O(pixels) per call regardless of filter radius (running sums), so 12 MP images stay fast.

export interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

export function plane(width: number, height: number, data: Float32Array = new Float32Array(width * height)): Plane {
  return { data, width, height };
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

/**
 * Resampling weights for one axis: a triangle (linear) kernel whose support widens with the reduction factor,
 * so downscaling averages (no aliasing) and upscaling interpolates bilinearly. Pixel centres are aligned.
 */
function axisTaps(src: number, dst: number): Taps {
  const scale = src / dst;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights = new Float32Array(dst * stride);
  for (let i = 0; i < dst; i++) {
    const centre = (i + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(src - 1, Math.floor(centre + support));
    let sum = 0;
    let n = 0;
    for (let s = lo; s <= hi && n < stride; s++, n++) {
      const w = Math.max(0, 1 - Math.abs(s - centre) / support);
      weights[i * stride + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Degenerate (src of 1 pixel): take the nearest sample.
      start[i] = Math.min(src - 1, Math.max(0, Math.round(centre)));
      count[i] = 1;
      weights[i * stride] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[i * stride + k] = (weights[i * stride + k] as number) / sum;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, stride };
}

/** Resizes a plane (separable triangle filter: bilinear up, area-like down). */
export function resize(src: Plane, width: number, height: number): Plane {
  if (src.width === width && src.height === height) return plane(width, height, src.data.slice());
  const tx = axisTaps(src.width, width);
  const ty = axisTaps(src.height, height);
  const tmp = new Float32Array(width * src.height);
  const s = src.data;
  for (let y = 0; y < src.height; y++) {
    const row = y * src.width;
    for (let x = 0; x < width; x++) {
      const st = tx.start[x] as number;
      const n = tx.count[x] as number;
      const base = x * tx.stride;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += (s[row + st + k] as number) * (tx.weights[base + k] as number);
      tmp[y * width + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const st = ty.start[y] as number;
    const n = ty.count[y] as number;
    const base = y * ty.stride;
    const o = y * width;
    for (let k = 0; k < n; k++) {
      const w = ty.weights[base + k] as number;
      const r = (st + k) * width;
      for (let x = 0; x < width; x++) out[o + x] = (out[o + x] as number) + w * (tmp[r + x] as number);
    }
  }
  return plane(width, height, out);
}

/** Mean over a (2r+1)² window, the window clipped at the borders (so edges are not darkened). */
export function boxMean(src: Plane, r: number, out?: Float32Array): Plane {
  const { width: w, height: h } = src;
  const res = out ?? new Float32Array(w * h);
  if (r < 1) {
    res.set(src.data);
    return plane(w, h, res);
  }
  const tmp = new Float32Array(w * h);
  const s = src.data;
  // Horizontal running sum, in three segments (left border, interior, right border) so the interior loop,
  // where nearly all pixels are, has no clamping.
  const full = 2 * r + 1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let acc = 0;
    const first = Math.min(r, w - 1);
    for (let x = 0; x <= first; x++) acc += s[row + x] as number;
    let x = 0;
    const leftEnd = Math.min(w, r + 1);
    for (; x < leftEnd; x++) {
      const hi = Math.min(w - 1, x + r);
      tmp[row + x] = acc / (hi + 1);
      if (x + r + 1 < w) acc += s[row + x + r + 1] as number;
      if (x - r >= 0) acc -= s[row + x - r] as number;
    }
    const inv = 1 / full;
    const midEnd = w - r - 1;
    for (; x < midEnd; x++) {
      tmp[row + x] = acc * inv;
      acc += (s[row + x + r + 1] as number) - (s[row + x - r] as number);
    }
    for (; x < w; x++) {
      const lo = Math.max(0, x - r);
      const hi = Math.min(w - 1, x + r);
      tmp[row + x] = acc / (hi - lo + 1);
      if (x + r + 1 < w) acc += s[row + x + r + 1] as number;
      if (x - r >= 0) acc -= s[row + x - r] as number;
    }
  }
  // Vertical running sum, whole rows at a time (cache-friendly).
  const acc = new Float64Array(w);
  const first = Math.min(r, h - 1);
  for (let y = 0; y <= first; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) acc[x] = (acc[x] as number) + (tmp[row + x] as number);
  }
  for (let y = 0; y < h; y++) {
    const lo = Math.max(0, y - r);
    const hi = Math.min(h - 1, y + r);
    const inv = 1 / (hi - lo + 1);
    const row = y * w;
    for (let x = 0; x < w; x++) res[row + x] = (acc[x] as number) * inv;
    const add = y + r + 1;
    const sub = y - r;
    if (add < h) {
      const ra = add * w;
      for (let x = 0; x < w; x++) acc[x] = (acc[x] as number) + (tmp[ra + x] as number);
    }
    if (sub >= 0) {
      const rs = sub * w;
      for (let x = 0; x < w; x++) acc[x] = (acc[x] as number) - (tmp[rs + x] as number);
    }
  }
  return plane(w, h, res);
}

/**
 * Box radii whose three successive passes approximate a Gaussian of standard deviation `sigma`
 * (the ideal-averaging-filter widths of Kovesi, "Fast almost-Gaussian filtering", 2010).
 */
export function gaussianBoxRadii(sigma: number, passes = 3): number[] {
  const ideal = Math.sqrt((12 * sigma * sigma) / passes + 1);
  let wl = Math.floor(ideal);
  if (wl % 2 === 0) wl--;
  const wu = wl + 2;
  const m = Math.round((12 * sigma * sigma - passes * wl * wl - 4 * passes * wl - 3 * passes) / (-4 * wl - 4));
  const radii: number[] = [];
  for (let i = 0; i < passes; i++) radii.push(((i < m ? wl : wu) - 1) / 2);
  return radii.map((r) => Math.max(0, r));
}

/** Approximate Gaussian blur (three box passes). */
export function gaussianBlur(src: Plane, sigma: number): Plane {
  if (sigma < 0.5) return plane(src.width, src.height, src.data.slice());
  let cur = src;
  for (const r of gaussianBoxRadii(sigma)) cur = boxMean(cur, r);
  return cur;
}

/**
 * Guided filter coefficients (He, Sun & Tang, "Guided Image Filtering", TPAMI 2013) with a colour guide:
 * per pixel, the linear model q = a·I + b that best explains `p` in each window, averaged over windows.
 * Returned as planes [a_r, a_g, a_b, b] so that they can be computed at a low resolution and applied at a
 * higher one ("Fast Guided Filter", He & Sun 2015): the matte's edges then follow the full-resolution image.
 */
export function guidedCoefficients(guide: [Plane, Plane, Plane], p: Plane, r: number, eps: number): [Plane, Plane, Plane, Plane] {
  const [I0, I1, I2] = guide;
  const n = p.width * p.height;
  const mean = (x: Float32Array): Float32Array => boxMean(plane(p.width, p.height, x), r).data;
  const prod = (x: Float32Array, y: Float32Array): Float32Array => {
    const o = new Float32Array(n);
    for (let i = 0; i < n; i++) o[i] = (x[i] as number) * (y[i] as number);
    return o;
  };
  const r0 = I0.data;
  const g0 = I1.data;
  const b0 = I2.data;
  const mR = mean(r0);
  const mG = mean(g0);
  const mB = mean(b0);
  const mP = mean(p.data);
  const mRP = mean(prod(r0, p.data));
  const mGP = mean(prod(g0, p.data));
  const mBP = mean(prod(b0, p.data));
  const vRR = mean(prod(r0, r0));
  const vRG = mean(prod(r0, g0));
  const vRB = mean(prod(r0, b0));
  const vGG = mean(prod(g0, g0));
  const vGB = mean(prod(g0, b0));
  const vBB = mean(prod(b0, b0));
  const aR = new Float32Array(n);
  const aG = new Float32Array(n);
  const aB = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const mr = mR[i] as number;
    const mg = mG[i] as number;
    const mb = mB[i] as number;
    const mp = mP[i] as number;
    const cR = (mRP[i] as number) - mr * mp;
    const cG = (mGP[i] as number) - mg * mp;
    const cB = (mBP[i] as number) - mb * mp;
    const rr = (vRR[i] as number) - mr * mr + eps;
    const rg = (vRG[i] as number) - mr * mg;
    const rb = (vRB[i] as number) - mr * mb;
    const gg = (vGG[i] as number) - mg * mg + eps;
    const gb = (vGB[i] as number) - mg * mb;
    const bb = (vBB[i] as number) - mb * mb + eps;
    // Inverse of the symmetric 3×3 covariance (+eps·I) by cofactors.
    const i00 = gg * bb - gb * gb;
    const i01 = gb * rb - rg * bb;
    const i02 = rg * gb - gg * rb;
    const i11 = rr * bb - rb * rb;
    const i12 = rb * rg - rr * gb;
    const i22 = rr * gg - rg * rg;
    const det = rr * i00 + rg * i01 + rb * i02;
    const inv = det !== 0 ? 1 / det : 0;
    const ar = (i00 * cR + i01 * cG + i02 * cB) * inv;
    const ag = (i01 * cR + i11 * cG + i12 * cB) * inv;
    const ab = (i02 * cR + i12 * cG + i22 * cB) * inv;
    aR[i] = ar;
    aG[i] = ag;
    aB[i] = ab;
    b[i] = mp - ar * mr - ag * mg - ab * mb;
  }
  const { width, height } = p;
  return [
    boxMean(plane(width, height, aR), r),
    boxMean(plane(width, height, aG), r),
    boxMean(plane(width, height, aB), r),
    boxMean(plane(width, height, b), r),
  ];
}

/** Remaps values so that [lo, hi] spans [0, 1] with a smooth (Hermite) ramp; outside is clamped. */
export function contrastCurve(x: number, lo: number, hi: number): number {
  if (x <= lo) return 0;
  if (x >= hi) return 1;
  const t = (x - lo) / (hi - lo);
  return t * t * (3 - 2 * t);
}

/**
 * Labels 8-connected components of `mask` (non-zero = set). Returns the label image (0 = unset, 1.. = component)
 * and each component's pixel count (index = label).
 */
export function connectedComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(width * height);
  const sizes: number[] = [0];
  const stack = new Int32Array(width * height);
  let next = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    next++;
    let size = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = next;
    while (top > 0) {
      const i = stack[--top] as number;
      size++;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width || (dx === 0 && dy === 0)) continue;
          const j = yy * width + xx;
          if (mask[j] && !labels[j]) {
            labels[j] = next;
            stack[top++] = j;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/**
 * Holes of a binary mask within a rectangle: unset pixels that are not 4-connected to the rectangle's border
 * through unset pixels. Returned as a mask of the whole image.
 */
export function holesWithin(
  mask: Uint8Array,
  width: number,
  height: number,
  box: { left: number; top: number; right: number; bottom: number },
): Uint8Array {
  const x0 = Math.max(0, Math.floor(box.left));
  const y0 = Math.max(0, Math.floor(box.top));
  const x1 = Math.min(width - 1, Math.ceil(box.right) - 1);
  const y1 = Math.min(height - 1, Math.ceil(box.bottom) - 1);
  const holes = new Uint8Array(width * height);
  if (x1 < x0 || y1 < y0) return holes;
  const outside = new Uint8Array(width * height);
  const stack: number[] = [];
  const seed = (x: number, y: number): void => {
    const i = y * width + x;
    if (!mask[i] && !outside[i]) {
      outside[i] = 1;
      stack.push(i);
    }
  };
  for (let x = x0; x <= x1; x++) {
    seed(x, y0);
    seed(x, y1);
  }
  for (let y = y0; y <= y1; y++) {
    seed(x0, y);
    seed(x1, y);
  }
  while (stack.length > 0) {
    const i = stack.pop() as number;
    const x = i % width;
    const y = (i - x) / width;
    if (x > x0) seed(x - 1, y);
    if (x < x1) seed(x + 1, y);
    if (y > y0) seed(x, y - 1);
    if (y < y1) seed(x, y + 1);
  }
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const i = y * width + x;
      if (!mask[i] && !outside[i]) holes[i] = 1;
    }
  }
  return holes;
}

/** The smallest rectangle holding every value above `threshold`, or undefined when none is. */
export function boundsAbove(p: Plane | { data: Uint8Array | Float32Array; width: number; height: number }, threshold: number):
  | { left: number; top: number; width: number; height: number }
  | undefined {
  const { data, width, height } = p;
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let rowMin = -1;
    let rowMax = -1;
    for (let x = 0; x < width; x++) {
      if ((data[row + x] as number) > threshold) {
        if (rowMin < 0) rowMin = x;
        rowMax = x;
      }
    }
    if (rowMin >= 0) {
      if (rowMin < minX) minX = rowMin;
      if (rowMax > maxX) maxX = rowMax;
      if (y < minY) minY = y;
      maxY = y;
    }
  }
  if (maxX < 0) return undefined;
  return { left: minX, top: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** Dilates a binary mask by a square of radius r (two running-max passes). */
export function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  if (r < 1) return mask.slice();
  const src = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) src[i] = mask[i] ? 1 : 0;
  // A box mean > 0 ⇔ some pixel within the square is set.
  const m = boxMean(plane(width, height, src), r).data;
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = (m[i] as number) > 1e-6 ? 1 : 0;
  return out;
}

/**
 * Foreground colours by blur-fusion (Forte & Pitié, "Approximate Fast Foreground Colour Estimation", ICIP
 * 2021): local means of the foreground and background colours, weighted by alpha and 1 - alpha, then the
 * compositing equation I = αF + (1-α)B solved for F around them. Run twice, first with a large window to reach
 * colours far from the edge, then a small one to sharpen. Semi-transparent edge pixels then carry the
 * subject's colour instead of the old background's (no halo). Channels in 0..1; returns one plane per channel.
 *
 * The large-window pass only produces heavily smoothed means, so it runs on planes reduced until its window
 * is ~8 px, then is upsampled: the same result within rounding at a fraction of the cost.
 */
export function blurFusionForeground(channels: Plane[], alpha: Plane, largeRadius: number, smallRadius: number): Plane[] {
  const { width, height } = alpha;
  const n = width * height;
  const A = alpha.data;
  const f = Math.max(1, largeRadius / 8);
  const sw = Math.max(1, Math.round(width / f));
  const sh = Math.max(1, Math.round(height / f));
  const rLarge = Math.max(1, Math.round(largeRadius / f));
  const alphaSmall = resize(alpha, sw, sh);
  const bAlphaLarge = boxMean(alphaSmall, rLarge).data;
  const bAlphaSmall = boxMean(alpha, smallRadius).data;
  const ns = sw * sh;

  return channels.map((image) => {
    const I = image.data;
    // Pass 1 (reduced): F = B = I.
    const fa = new Float32Array(n);
    const ba = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = A[i] as number;
      const v = I[i] as number;
      fa[i] = v * a;
      ba[i] = v * (1 - a);
    }
    const faS = boxMean(resize(plane(width, height, fa), sw, sh), rLarge).data;
    const baS = boxMean(resize(plane(width, height, ba), sw, sh), rLarge).data;
    for (let i = 0; i < ns; i++) {
      const b = bAlphaLarge[i] as number;
      faS[i] = (faS[i] as number) / (b + 1e-5);
      baS[i] = (baS[i] as number) / (1 - b + 1e-5);
    }
    const F1 = resize(plane(sw, sh, faS), width, height).data;
    const B1 = resize(plane(sw, sh, baS), width, height).data;
    for (let i = 0; i < n; i++) {
      const a = A[i] as number;
      const fm = F1[i] as number;
      const v = fm + a * ((I[i] as number) - a * fm - (1 - a) * (B1[i] as number));
      const F = v < 0 ? 0 : v > 1 ? 1 : v;
      // Pass 2 inputs, reusing the buffers: F·α and B1·(1-α).
      fa[i] = F * a;
      ba[i] = (B1[i] as number) * (1 - a);
    }
    const bFA = boxMean(plane(width, height, fa), smallRadius, F1).data;
    const bBA = boxMean(plane(width, height, ba), smallRadius, B1).data;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const b = bAlphaSmall[i] as number;
      const a = A[i] as number;
      const fm = (bFA[i] as number) / (b + 1e-5);
      const bm = (bBA[i] as number) / (1 - b + 1e-5);
      const v = fm + a * ((I[i] as number) - a * fm - (1 - a) * bm);
      out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return plane(width, height, out);
  });
}

/**
 * Sum over a disc of radius r (the footprint of an out-of-focus point through a round aperture), zero outside
 * the image. Rows of the disc are spans of a row prefix sum: O(pixels × (2r+1)). Callers keep r small by
 * working on a reduced plane, and divide two such sums (normalised convolution), so the kernel's area cancels.
 */
export function discSum(src: Plane, r: number): Plane {
  const { width: w, height: h, data } = src;
  const R = Math.max(0, Math.round(r));
  const prefix = new Float64Array((w + 1) * h);
  for (let y = 0; y < h; y++) {
    let acc = 0;
    const row = y * w;
    const prow = y * (w + 1);
    for (let x = 0; x < w; x++) {
      acc += data[row + x] as number;
      prefix[prow + x + 1] = acc;
    }
  }
  const half: number[] = [];
  for (let dy = -R; dy <= R; dy++) half.push(Math.floor(Math.sqrt(Math.max(0, (R + 0.5) * (R + 0.5) - dy * dy))));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let k = 0; k < half.length; k++) {
      const yy = y + k - R;
      if (yy < 0 || yy >= h) continue;
      const hw = half[k] as number;
      const prow = yy * (w + 1);
      for (let x = 0; x < w; x++) {
        const lo = x - hw < 0 ? 0 : x - hw;
        const hi = x + hw + 1 > w ? w : x + hw + 1;
        out[o + x] = (out[o + x] as number) + ((prefix[prow + hi] as number) - (prefix[prow + lo] as number));
      }
    }
  }
  return plane(w, h, out);
}

/**
 * Samples a plane bilinearly at the position of pixel (x, y) of a grid of `width`×`height` covering the same
 * area (pixel centres aligned, edges clamped): upsampling one pixel at a time, for loops that need only some.
 */
export function sampleAt(p: Plane, x: number, y: number, width: number, height: number): number {
  let fx = ((x + 0.5) * p.width) / width - 0.5;
  let fy = ((y + 0.5) * p.height) / height - 0.5;
  if (fx < 0) fx = 0;
  if (fy < 0) fy = 0;
  const x0 = Math.min(p.width - 1, Math.floor(fx));
  const y0 = Math.min(p.height - 1, Math.floor(fy));
  const x1 = Math.min(p.width - 1, x0 + 1);
  const y1 = Math.min(p.height - 1, y0 + 1);
  const tx = Math.min(1, fx - x0);
  const ty = Math.min(1, fy - y0);
  const d = p.data;
  const w = p.width;
  const top = (d[y0 * w + x0] as number) * (1 - tx) + (d[y0 * w + x1] as number) * tx;
  const bottom = (d[y1 * w + x0] as number) * (1 - tx) + (d[y1 * w + x1] as number) * tx;
  return top * (1 - ty) + bottom * ty;
}

/**
 * Bilinear upsampling one output row at a time (pixel centres aligned, edges clamped), so full-resolution
 * loops can read a low-resolution plane without materialising its full-size copy.
 */
export class RowSampler {
  private readonly x0: Int32Array;
  private readonly x1: Int32Array;
  private readonly tx: Float32Array;

  constructor(
    private readonly src: Plane,
    readonly width: number,
    readonly height: number,
  ) {
    this.x0 = new Int32Array(width);
    this.x1 = new Int32Array(width);
    this.tx = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const fx = Math.max(0, ((x + 0.5) * src.width) / width - 0.5);
      const x0 = Math.min(src.width - 1, Math.floor(fx));
      this.x0[x] = x0;
      this.x1[x] = Math.min(src.width - 1, x0 + 1);
      this.tx[x] = Math.min(1, fx - x0);
    }
  }

  /** Writes output row y into `out` (length ≥ width). */
  row(y: number, out: Float32Array): Float32Array {
    const { src } = this;
    const fy = Math.max(0, ((y + 0.5) * src.height) / this.height - 0.5);
    const y0 = Math.min(src.height - 1, Math.floor(fy));
    const y1 = Math.min(src.height - 1, y0 + 1);
    const ty = Math.min(1, fy - y0);
    const d = src.data;
    const r0 = y0 * src.width;
    const r1 = y1 * src.width;
    for (let x = 0; x < this.width; x++) {
      const a = this.x0[x] as number;
      const b = this.x1[x] as number;
      const t = this.tx[x] as number;
      const top = (d[r0 + a] as number) + ((d[r0 + b] as number) - (d[r0 + a] as number)) * t;
      const bottom = (d[r1 + a] as number) + ((d[r1 + b] as number) - (d[r1 + a] as number)) * t;
      out[x] = top + (bottom - top) * ty;
    }
    return out;
  }
}
