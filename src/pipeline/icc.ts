// Reading the few facts about an embedded ICC profile that the output default needs (which colour space it
// describes, whether it is just sRGB, what it calls itself), and handing an in-memory profile to libvips,
// which takes output profiles only as file paths.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** ICC header colour-space signatures (bytes 16–19) this pipeline distinguishes. */
export type IccColourSpace = 'RGB' | 'CMYK' | 'GRAY' | 'other';

const HEADER_BYTES = 128;

/** The tag table entry for `signature`, as [offset, size] within the profile, or undefined. */
function findTag(icc: Buffer, signature: string): [number, number] | undefined {
  if (icc.length < HEADER_BYTES + 4) return undefined;
  const count = icc.readUInt32BE(HEADER_BYTES);
  for (let i = 0; i < count; i++) {
    const entry = HEADER_BYTES + 4 + i * 12;
    if (entry + 12 > icc.length) return undefined;
    if (icc.toString('latin1', entry, entry + 4) !== signature) continue;
    const offset = icc.readUInt32BE(entry + 4);
    const size = icc.readUInt32BE(entry + 8);
    return offset + size <= icc.length ? [offset, size] : undefined;
  }
  return undefined;
}

/** Whether the bytes look like an ICC profile at all ('acsp' magic at byte 36). */
export function isIccProfile(icc: Buffer): boolean {
  return icc.length >= HEADER_BYTES + 4 && icc.toString('latin1', 36, 40) === 'acsp';
}

export function iccColourSpace(icc: Buffer): IccColourSpace {
  if (!isIccProfile(icc)) return 'other';
  const sig = icc.toString('latin1', 16, 20);
  if (sig === 'RGB ') return 'RGB';
  if (sig === 'CMYK') return 'CMYK';
  if (sig === 'GRAY') return 'GRAY';
  return 'other';
}

/** The profile's description ('desc' tag: ICC v2 textDescriptionType or v4 multiLocalizedUnicodeType). */
export function iccDescription(icc: Buffer): string | undefined {
  if (!isIccProfile(icc)) return undefined;
  const tag = findTag(icc, 'desc');
  if (!tag) return undefined;
  const [offset, size] = tag;
  const end = offset + size;
  const type = icc.toString('latin1', offset, offset + 4);
  if (type === 'desc' && offset + 12 <= end) {
    const length = icc.readUInt32BE(offset + 8);
    // The count includes the terminating NUL.
    const text = icc.toString('latin1', offset + 12, Math.min(end, offset + 12 + length));
    return text.replace(/\0+$/, '');
  }
  if (type === 'mluc' && offset + 28 <= end) {
    // First record; profiles carry their main description there.
    const length = icc.readUInt32BE(offset + 20);
    const start = offset + icc.readUInt32BE(offset + 24);
    if (start + length > end) return undefined;
    return Buffer.from(icc.subarray(start, start + length)).swap16().toString('utf16le');
  }
  return undefined;
}

/** An XYZType tag as [X, Y, Z], or undefined when absent or malformed. */
function xyzTag(icc: Buffer, signature: string): [number, number, number] | undefined {
  const tag = findTag(icc, signature);
  if (!tag || tag[1] < 20 || icc.toString('latin1', tag[0], tag[0] + 4) !== 'XYZ ') return undefined;
  const s15 = (k: number): number => icc.readInt32BE(tag[0] + 8 + 4 * k) / 65536;
  return [s15(0), s15(1), s15(2)];
}

/** sRGB's primaries adapted to the D50 connection space, as every sRGB matrix profile stores them. */
const SRGB_PRIMARIES: Record<'rXYZ' | 'gXYZ' | 'bXYZ', [number, number, number]> = {
  rXYZ: [0.4361, 0.2225, 0.0139],
  gXYZ: [0.3851, 0.7169, 0.0971],
  bXYZ: [0.1431, 0.0606, 0.7141],
};

/**
 * Room for the rounding of the various sRGB profiles in circulation (they differ by up to ~0.0005); the
 * nearest other common space, Display P3, is 0.08 away in red.
 */
const PRIMARY_TOLERANCE = 0.005;

/**
 * Whether an RGB profile has sRGB's gamut: a matrix profile whose colorants are sRGB's primaries. Its colours
 * all fit in sRGB, so converting to sRGB loses nothing (tone-curve variants such as Rec. 709 count too:
 * the conversion through the embedded profile handles the curve). LUT-only RGB profiles (no colorant tags)
 * are not recognised as sRGB, so they are kept.
 */
export function isSrgbProfile(icc: Buffer): boolean {
  if (iccColourSpace(icc) !== 'RGB') return false;
  for (const [sig, expected] of Object.entries(SRGB_PRIMARIES)) {
    const actual = xyzTag(icc, sig);
    if (!actual) return false;
    if (actual.some((v, i) => Math.abs(v - (expected[i] as number)) > PRIMARY_TOLERANCE)) return false;
  }
  return true;
}

/**
 * Runs `fn` with the profile written to a private temporary file, removed afterwards. sharp 0.35's
 * withIccProfile() accepts only a path or a built-in name; the file lives only for one encode. Each call gets
 * its own directory, so concurrent jobs never share or race on a file.
 */
export async function withProfileFile<T>(icc: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'atelier-icc-'));
  try {
    const path = join(dir, 'profile.icc');
    await writeFile(path, icc);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
