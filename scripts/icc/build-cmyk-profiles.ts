// Builds the approximate CMYK output profiles shipped in assets/icc/ (see docs/color-profiles.md).
//
// No free ICC profile exists for three of the contract's four CMYK conditions, so we make our own from a
// simple, documented print model, and let ArgyllCMS's colprof (a build-time tool only: `apt-get install
// argyll`) turn the model's characterisation data into a proper ICC v2 LUT profile with black generation,
// a total ink limit and a perceptual gamut mapping from sRGB.
//
// The print model:
//  - Solid and overprint colours (paper, C, M, Y, K, and the two- and three-colour overprints R, G, B, CMY)
//    are the approximate CIELAB aims of the printing condition (D50, 2°), as commonly quoted for the
//    characterisation data set the contract names. They are approximations, not the official data.
//  - Overprints with black are not quoted in the aims; they are derived per tristimulus component in
//    density: the darker layer's density plus BLACK_OVERPRINT_SHARE of the lighter one's, which keeps
//    4-colour black a little darker than K alone, as on press.
//  - Tone value increase (dot gain) follows 4·TVI50·a·(1−a) on top of the nominal tone value.
//  - Tints mix the 16 Neugebauer primaries in XYZ with Demichel weights (Murray–Davies / Neugebauer).
//
// Usage: node --import tsx scripts/icc/build-cmyk-profiles.ts [--validate]
//   --validate also builds a FOGRA39-aims profile from the same model and compares it with the real
//   ISO Coated v2 300% profile, to measure how far the model is from measured data.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Lab = [number, number, number];

export interface PrintCondition {
  /** File name under assets/icc/ (without extension). */
  file: string;
  /** Profile description tag. */
  description: string;
  paper: Lab;
  c: Lab;
  m: Lab;
  y: Lab;
  k: Lab;
  /** Overprints: red = M+Y, green = C+Y, blue = C+M, and C+M+Y. */
  r: Lab;
  g: Lab;
  b: Lab;
  cmy: Lab;
  /** Tone value increase at 50 % for the chromatic inks and for black, in percent. */
  tviCmy: number;
  tviK: number;
  /** Total area coverage limit in percent, and the black limit. */
  tac: number;
  blackLimit: number;
}

const COPYRIGHT =
  'Atelier project, Apache-2.0. Approximation generated from a documented print model; not official characterisation data.';

export const CONDITIONS: PrintCondition[] = [
  {
    file: 'Atelier_ISO_Uncoated_FOGRA29_approx',
    description: 'Atelier approx. ISO Uncoated (FOGRA29 aims), TAC 300%',
    paper: [95, 0, -2],
    c: [58, -25, -43],
    m: [54, 58, -2],
    y: [86, -4, 75],
    k: [31, 1, 1],
    r: [52, 55, 26],
    g: [52, -38, 14],
    b: [37, 12, -31],
    cmy: [33, 0, 1],
    tviCmy: 19,
    tviK: 22,
    tac: 300,
    blackLimit: 95,
  },
  {
    file: 'Atelier_USWeb_Coated_SWOP_approx',
    description: 'Atelier approx. US Web Coated (SWOP TR003 aims), TAC 300%',
    paper: [93, 0, 3],
    c: [56, -36, -42],
    m: [48, 70, -4],
    y: [87, -5, 88],
    k: [17, 1, 1],
    r: [47, 66, 45],
    g: [50, -62, 24],
    b: [25, 19, -43],
    cmy: [24, 0, 1],
    tviCmy: 20,
    tviK: 22,
    tac: 300,
    blackLimit: 95,
  },
  {
    file: 'Atelier_USWeb_Uncoated_CRPC3_approx',
    description: 'Atelier approx. US Web Uncoated (GRACoL 2013 Uncoated / CRPC3 aims), TAC 260%',
    paper: [95, 1, -4],
    c: [60, -26, -44],
    m: [56, 61, -2],
    y: [89, -4, 78],
    k: [31, 1, 1],
    r: [55, 56, 27],
    g: [54, -40, 15],
    b: [39, 12, -37],
    cmy: [35, 0, 1],
    tviCmy: 20,
    tviK: 22,
    tac: 260,
    blackLimit: 95,
  },
];

/** The same model with FOGRA39 (ISO Coated v2) aims, used only to measure the model against real data. */
export const FOGRA39_CHECK: PrintCondition = {
  file: 'model_check_FOGRA39',
  description: 'Model check FOGRA39 aims',
  paper: [95, 0, -2],
  c: [55, -37, -50],
  m: [48, 74, -3],
  y: [89, -5, 93],
  k: [16, 0, 0],
  r: [47, 68, 48],
  g: [50, -65, 27],
  b: [24, 22, -46],
  cmy: [23, 0, 0],
  tviCmy: 14,
  tviK: 17,
  tac: 300,
  blackLimit: 95,
};

const BLACK_OVERPRINT_SHARE = 0.25;
const D50: [number, number, number] = [0.9642, 1, 0.8251];

function labToXyz([l, a, b]: Lab): [number, number, number] {
  const fy = (l + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const inv = (f: number): number => (f ** 3 > 216 / 24389 ? f ** 3 : (116 * f - 16) / (24389 / 27));
  return [D50[0] * inv(fx), D50[1] * inv(fy), D50[2] * inv(fz)];
}

function xyzToLab([x, y, z]: [number, number, number]): Lab {
  const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const fx = f(x / D50[0]);
  const fy = f(y / D50[1]);
  const fz = f(z / D50[2]);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** The 16 Neugebauer primaries in XYZ, indexed by bit mask C=1, M=2, Y=4, K=8. */
export function neugebauerPrimaries(cond: PrintCondition): [number, number, number][] {
  const xyz = (lab: Lab): [number, number, number] => labToXyz(lab);
  const white = xyz(cond.paper);
  const chromatic: [number, number, number][] = [
    white,
    xyz(cond.c),
    xyz(cond.m),
    xyz(cond.b),
    xyz(cond.y),
    xyz(cond.g),
    xyz(cond.r),
    xyz(cond.cmy),
  ];
  const black = xyz(cond.k);
  const withBlack = chromatic.map((p, mask) => {
    if (mask === 0) return black;
    return p.map((v, i) => {
      const dInk = -Math.log10(v / white[i]!);
      const dK = -Math.log10(black[i]! / white[i]!);
      const d = Math.max(dInk, dK) + BLACK_OVERPRINT_SHARE * Math.min(dInk, dK);
      return white[i]! * 10 ** -d;
    }) as [number, number, number];
  });
  return [...chromatic, ...withBlack];
}

/** Effective (printed) tone value for a nominal one, both 0..1. */
export function effectiveArea(a: number, tvi50: number): number {
  return Math.min(1, Math.max(0, a + (tvi50 / 100) * 4 * a * (1 - a)));
}

export function modelLab(cond: PrintCondition, primaries: [number, number, number][], cmyk: number[]): Lab {
  const [c, m, y, k] = cmyk.map((v, i) => effectiveArea(v / 100, i === 3 ? cond.tviK : cond.tviCmy)) as [
    number,
    number,
    number,
    number,
  ];
  const areas = [c, m, y, k];
  const out: [number, number, number] = [0, 0, 0];
  for (let mask = 0; mask < 16; mask++) {
    let w = 1;
    for (let ink = 0; ink < 4; ink++) w *= mask & (1 << ink) ? areas[ink]! : 1 - areas[ink]!;
    const p = primaries[mask]!;
    out[0] += w * p[0];
    out[1] += w * p[1];
    out[2] += w * p[2];
  }
  return xyzToLab(out);
}

/** Characterisation patches: a 9-step grid per ink (6,561 patches), in percent. */
export function patchGrid(steps = 9): number[][] {
  const levels = Array.from({ length: steps }, (_, i) => (i * 100) / (steps - 1));
  const patches: number[][] = [];
  for (const k of levels) for (const y of levels) for (const m of levels) for (const c of levels) patches.push([c, m, y, k]);
  return patches;
}

export function ti3(cond: PrintCondition): string {
  const primaries = neugebauerPrimaries(cond);
  const rows = patchGrid().map((cmyk, i) => {
    const lab = modelLab(cond, primaries, cmyk);
    return [String(i + 1), ...cmyk.map((v) => v.toFixed(4)), ...lab.map((v) => v.toFixed(4))].join(' ');
  });
  return [
    'CTI3',
    '',
    `DESCRIPTOR "${cond.description}"`,
    'ORIGINATOR "Atelier scripts/icc/build-cmyk-profiles.ts"',
    'KEYWORD "DEVICE_CLASS"',
    'DEVICE_CLASS "OUTPUT"',
    'KEYWORD "COLOR_REP"',
    'COLOR_REP "CMYK_LAB"',
    'KEYWORD "TOTAL_INK_LIMIT"',
    `TOTAL_INK_LIMIT "${cond.tac}.0"`,
    '',
    'NUMBER_OF_FIELDS 9',
    'BEGIN_DATA_FORMAT',
    'SAMPLE_ID CMYK_C CMYK_M CMYK_Y CMYK_K LAB_L LAB_A LAB_B',
    'END_DATA_FORMAT',
    '',
    `NUMBER_OF_SETS ${rows.length}`,
    'BEGIN_DATA',
    ...rows,
    'END_DATA',
    '',
  ].join('\n');
}

function buildProfile(cond: PrintCondition, outDir: string, work: string): string {
  const base = join(work, cond.file);
  writeFileSync(`${base}.ti3`, ti3(cond));
  execFileSync(
    'colprof',
    [
      '-qm', // medium quality: 33-point B2A grids, ~0.5 MB profiles
      '-kr', // black generation: K ramps in from white to full black (a light GCR)
      `-l${cond.tac}`,
      `-L${cond.blackLimit}`,
      '-S',
      '/usr/share/color/argyll/ref/sRGB.icm', // perceptual table maps the sRGB gamut into the print gamut
      '-cmt',
      '-dpp',
      '-nc', // do not embed the synthetic .ti3 in the profile
      '-D',
      cond.description,
      '-C',
      COPYRIGHT,
      '-O',
      join(outDir, `${cond.file}.icc`),
      base,
    ],
    { stdio: 'inherit' },
  );
  return join(outDir, `${cond.file}.icc`);
}

/** ΔE*ab between the model (via a built profile) and a reference profile over a CMYK grid. */
function compare(profile: string, reference: string): { mean: number; p95: number; max: number } {
  const patches = patchGrid(6).filter((p) => p.reduce((a, b) => a + b, 0) <= 300);
  const input = patches.map((p) => p.join(' ')).join('\n');
  const lookup = (icc: string): Lab[] =>
    // Absolute colorimetric, so paper white counts too. Lines read "c m y k [CMYK] -> Lut -> L a b [Lab]".
    execFileSync('xicclu', ['-s100', '-ff', '-ia', '-pl', icc], { input })
      .toString()
      .split('\n')
      .filter((line) => line.includes('->'))
      .map((line) => line.split('->').at(-1)!.trim().split(/\s+/).slice(0, 3).map(Number) as Lab);
  const a = lookup(profile);
  const b = lookup(reference);
  const de = a.map((lab, i) => Math.hypot(lab[0] - b[i]![0], lab[1] - b[i]![1], lab[2] - b[i]![2])).sort((x, y) => x - y);
  return {
    mean: de.reduce((s, v) => s + v, 0) / de.length,
    p95: de[Math.floor(de.length * 0.95)]!,
    max: de[de.length - 1]!,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outDir = new URL('../../assets/icc/', import.meta.url).pathname;
  const work = mkdtempSync(join(tmpdir(), 'atelier-icc-'));
  try {
    if (process.argv.includes('--validate')) {
      const check = buildProfile(FOGRA39_CHECK, work, work);
      const result = compare(check, join(outDir, 'ISOcoated_v2_300_bas.icc'));
      console.log('model (FOGRA39 aims) vs ISO Coated v2 300% (basICColor), ΔE*ab:', result);
    } else {
      for (const cond of CONDITIONS) console.log('built', buildProfile(cond, outDir, work));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
