// Storage settings from the environment. Kept beside the storage code (and read once by
// createServices); every variable is listed in the README's configuration table and in docs/storage.md.
import { join, resolve } from 'node:path';
import { GCS_DEFAULT_ENDPOINT } from './connectors/gcs.js';

export interface StorageConfig {
  /** Atelier's data directory: no local storage may contain it. */
  dataDir: string;
  /** ATELIER_SECRET_KEY: seals storage secrets; the installation secret is used when unset. */
  secretKey?: string;
  /** Folder every `local` storage must lie under. */
  localRoot: string;
  s3: {
    /** Endpoint of an S3-compatible service (MinIO, Ceph, R2); AWS when unset. */
    endpoint?: string;
    region: string;
    forcePathStyle: boolean;
  };
  gcsEndpoint: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Most files a folder listing (batch input) may return. */
  maxListedFiles: number;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be an integer >= 1, got "${raw}"`);
  return n;
}

function endpoint(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

export function loadStorageConfig(env: NodeJS.ProcessEnv, dataDir: string): StorageConfig {
  const s3Endpoint = endpoint(env, 'ATELIER_S3_ENDPOINT');
  return {
    dataDir: resolve(dataDir),
    secretKey: env.ATELIER_SECRET_KEY || undefined,
    localRoot: resolve(env.ATELIER_LOCAL_STORAGE_ROOT || join(dataDir, 'storage')),
    s3: {
      endpoint: s3Endpoint,
      region: env.ATELIER_S3_REGION?.trim() || 'us-east-1',
      // Self-hosted S3 services are usually reached by one host name, without per-bucket DNS.
      forcePathStyle: bool(env, 'ATELIER_S3_FORCE_PATH_STYLE', s3Endpoint !== undefined),
    },
    gcsEndpoint: endpoint(env, 'ATELIER_GCS_ENDPOINT') ?? GCS_DEFAULT_ENDPOINT,
    connectTimeoutMs: int(env, 'ATELIER_STORAGE_CONNECT_TIMEOUT_MS', 5000),
    requestTimeoutMs: int(env, 'ATELIER_STORAGE_TIMEOUT_MS', 60000),
    maxListedFiles: int(env, 'ATELIER_STORAGE_MAX_LISTED_FILES', 10000),
  };
}
