// The CMYK ICC profiles behind the contract's `color_profile` names. The files live in assets/icc/ and are
// committed with the project (see docs/color-profiles.md for where each comes from and its licence), so
// CMYK output works after `npm ci` alone, with no system colour packages.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CmykProfileName } from '../contract/types.js';

export interface CmykProfile {
  name: CmykProfileName;
  /** File name in assets/icc/. */
  file: string;
  /** The profile's own description tag, as written into every output that embeds it. */
  description: string;
  /** Total area coverage the profile's separation never exceeds, in percent. */
  totalInkLimit: number;
  /** Whether this is the measured standard profile or our documented approximation of it. */
  kind: 'standard' | 'approximation';
}

/** The contract's schema default for `color_profile` (one description says ISO_Coated; the schema wins). */
export const DEFAULT_CMYK_PROFILE: CmykProfileName = 'USWeb_Coated';

export const CMYK_PROFILES: Readonly<Record<CmykProfileName, CmykProfile>> = {
  ISO_Coated: {
    name: 'ISO_Coated',
    file: 'ISOcoated_v2_300_bas.icc',
    description: 'ISO Coated v2 300% (basICColor)',
    totalInkLimit: 300,
    kind: 'standard',
  },
  ISO_Uncoated: {
    name: 'ISO_Uncoated',
    file: 'Atelier_ISO_Uncoated_FOGRA29_approx.icc',
    description: 'Atelier approx. ISO Uncoated (FOGRA29 aims), TAC 300%',
    totalInkLimit: 300,
    kind: 'approximation',
  },
  USWeb_Coated: {
    name: 'USWeb_Coated',
    file: 'Atelier_USWeb_Coated_SWOP_approx.icc',
    description: 'Atelier approx. US Web Coated (SWOP TR003 aims), TAC 300%',
    totalInkLimit: 300,
    kind: 'approximation',
  },
  USWeb_Uncoated: {
    name: 'USWeb_Uncoated',
    file: 'Atelier_USWeb_Uncoated_CRPC3_approx.icc',
    description: 'Atelier approx. US Web Uncoated (GRACoL 2013 Uncoated / CRPC3 aims), TAC 260%',
    totalInkLimit: 260,
    kind: 'approximation',
  },
};

let iccDir: string | undefined;

/**
 * assets/icc/ relative to this module: two levels up when run from source (src/pipeline), three when run
 * from the build (dist/src/pipeline).
 */
export function assetsIccDir(): string {
  if (iccDir) return iccDir;
  for (const up of ['../../assets/icc/', '../../../assets/icc/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(dir)) {
      iccDir = dir;
      return dir;
    }
  }
  throw new Error('assets/icc/ not found next to the application; the CMYK profiles ship there');
}

/** Absolute path of the ICC file for a contract profile name. */
export function cmykProfilePath(name: CmykProfileName): string {
  return assetsIccDir() + CMYK_PROFILES[name].file;
}
