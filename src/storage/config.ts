// Storage settings from the environment. Kept beside the storage code and read once, as part of
// `loadConfig` (src/config.ts); every variable is listed in the README's configuration table and in docs/storage.md.
import { join, resolve } from 'node:path';
import { boolVar, httpUrlVar, intVar, type Env } from '../env.js';
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

export function loadStorageConfig(env: Env, dataDir: string): StorageConfig {
  const s3Endpoint = httpUrlVar(env, 'ATELIER_S3_ENDPOINT');
  return {
    dataDir: resolve(dataDir),
    secretKey: env.ATELIER_SECRET_KEY || undefined,
    localRoot: resolve(env.ATELIER_LOCAL_STORAGE_ROOT || join(dataDir, 'storage')),
    s3: {
      endpoint: s3Endpoint,
      region: env.ATELIER_S3_REGION?.trim() || 'us-east-1',
      // Self-hosted S3 services are usually reached by one host name, without per-bucket DNS.
      forcePathStyle: boolVar(env, 'ATELIER_S3_FORCE_PATH_STYLE', s3Endpoint !== undefined),
    },
    gcsEndpoint: httpUrlVar(env, 'ATELIER_GCS_ENDPOINT') ?? GCS_DEFAULT_ENDPOINT,
    connectTimeoutMs: intVar(env, 'ATELIER_STORAGE_CONNECT_TIMEOUT_MS', 5000, 1),
    requestTimeoutMs: intVar(env, 'ATELIER_STORAGE_TIMEOUT_MS', 60000, 1),
    maxListedFiles: intVar(env, 'ATELIER_STORAGE_MAX_LISTED_FILES', 10000, 1),
  };
}
