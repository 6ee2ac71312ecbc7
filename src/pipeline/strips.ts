// Runs a neighbourhood filter over an image in horizontal strips with overlapping halos, so its float
// working planes cover a few hundred rows instead of the whole image: memory stays bounded (a 24 MP image's
// planes would be ~100 MB each) and the working set fits in cache. With a halo at least as deep as the filter's
// reach, the result is identical to filtering the whole image at once.
import type { RawImage } from './raw-image.js';

export interface StripOptions {
  /** Interior rows per strip, before alignment (the last strip takes what is left). */
  rows: number;
  /** Rows read above and below each strip and discarded after filtering. */
  halo: number;
  /** Strip boundaries fall on rows ≡ phase (mod period), e.g. a JPEG block grid. */
  align?: { phase: number; period: number };
}

/** Rows per strip that keep a strip near `pixels` pixels, at least 64 rows. */
export function rowsForBudget(width: number, pixels = 2_000_000): number {
  return Math.max(64, Math.floor(pixels / Math.max(1, width)));
}

/** Interior row ranges [start, end) covering the image, boundaries aligned as asked. */
export function stripRanges(height: number, opts: StripOptions): { start: number; end: number }[] {
  const ranges: { start: number; end: number }[] = [];
  const period = opts.align?.period ?? 1;
  const phase = opts.align ? ((opts.align.phase % period) + period) % period : 0;
  let start = 0;
  while (start < height) {
    let end = start + Math.max(1, opts.rows);
    if (period > 1) end += (phase - (end % period) + period) % period;
    if (end >= height) end = height;
    ranges.push({ start, end });
    start = end;
  }
  return ranges;
}

/**
 * Applies `filter` to each strip (a zero-copy view of rows [start - halo, end + halo) clipped to the image;
 * `top` is the view's first row in the image) and assembles the interior rows. The filter must keep the
 * strip's size and channel count.
 */
export function processInStrips(img: RawImage, opts: StripOptions, filter: (view: RawImage, top: number) => RawImage): RawImage {
  const rowBytes = img.width * img.channels;
  const ranges = stripRanges(img.height, opts);
  if (ranges.length === 1) return filter(img, 0);
  const out = Buffer.allocUnsafe(img.data.length);
  for (const { start, end } of ranges) {
    const top = Math.max(0, start - opts.halo);
    const bottom = Math.min(img.height, end + opts.halo);
    const view: RawImage = {
      data: img.data.subarray(top * rowBytes, bottom * rowBytes),
      width: img.width,
      height: bottom - top,
      channels: img.channels,
    };
    const done = filter(view, top);
    if (done.width !== view.width || done.height !== view.height || done.channels !== view.channels) {
      throw new Error('strip filter changed the strip size');
    }
    done.data.copy(out, start * rowBytes, (start - top) * rowBytes, (end - top) * rowBytes);
  }
  return { data: out, width: img.width, height: img.height, channels: img.channels };
}
