// S3 and S3-compatible object stores (AWS S3, MinIO, Ceph RGW, Cloudflare R2, and GCS through its XML API)
// with the AWS SDK v3. One client per storage, so each keeps its own credentials and connection pool.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { StorageError } from '../../errors.js';
import {
  folderTooLarge,
  inputTooLarge,
  keyName,
  objectNotFound,
  type ListOptions,
  type ObjectLocation,
  type ReadOptions,
  type StorageConnector,
  type StoredObject,
  type WriteOptions,
} from './types.js';

export interface S3ConnectorOptions {
  /** The storage's name, for messages. */
  storage: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Custom endpoint (MinIO, Ceph, R2, GCS); AWS's regional endpoint when absent. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Scheme of `object_uri`: `s3://bucket/key` or `gs://bucket/key`. */
  uriScheme: 's3' | 'gs';
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Keys asked for per list request (S3's maximum is 1000). */
  listPageSize?: number;
}

/** What went wrong in an S3 call, as far as a client of Atelier needs to know. */
export type S3Failure = 'not_found' | 'no_bucket' | 'denied' | 'unreachable' | 'aborted' | 'other';

const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'AccountProblem',
  'AllAccessDisabled',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

/** Classifies an error thrown by the SDK (service errors carry a name and an HTTP status). */
export function classifyS3Error(err: unknown): S3Failure {
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? '';
  const code = e?.Code ?? '';
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'AbortError') return 'aborted';
  if (name === 'NoSuchBucket' || code === 'NoSuchBucket') return 'no_bucket';
  if (name === 'NoSuchKey' || code === 'NoSuchKey' || (status === 404 && name === 'NotFound')) return 'not_found';
  if (DENIED.has(name) || DENIED.has(code) || status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not_found';
  if (NETWORK.has(e?.code ?? '') || name === 'TimeoutError' || name === 'RequestTimeout') return 'unreachable';
  return 'other';
}

export class S3Connector implements StorageConnector {
  private readonly client: S3Client;

  constructor(private readonly opts: S3ConnectorOptions) {
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      // The SDK's default CRC checksums (headers and trailers) are refused by several S3-compatible services
      // (GCS, older MinIO and Ceph); Content-MD5, set on every upload below, is understood by all of them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: opts.connectTimeoutMs, requestTimeout: opts.requestTimeoutMs },
    });
    if (opts.forcePathStyle) {
      const bucketPath = `/${opts.bucket}/`;
      // The SDK lists a path-style bucket as `GET /bucket/?list-type=2`; most other clients (boto3, the AWS
      // CLI) send `GET /bucket?list-type=2`, and some S3-compatible servers compute the signature only for
      // that form. AWS, MinIO and GCS treat both alike, so the SDK's extra slash is dropped.
      this.client.middlewareStack.add(
        (next, context) => async (args) => {
          const request = args.request as { path?: unknown };
          if (
            context.commandName === 'ListObjectsV2Command' &&
            typeof request.path === 'string' &&
            request.path.endsWith(bucketPath)
          ) {
            request.path = request.path.slice(0, -1);
          }
          return next(args);
        },
        { step: 'build', name: 'atelierBucketPathWithoutSlash' },
      );
    }
  }

  private location(key: string): ObjectLocation {
    return { uri: `${this.opts.uriScheme}://${this.opts.bucket}/${key}`, key, bucket: this.opts.bucket };
  }

  async read(key: string, { signal, maxBytes, field }: ReadOptions): Promise<StoredObject> {
    let body: Readable | undefined;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }), {
        abortSignal: signal,
      });
      body = res.Body as Readable | undefined;
      if (res.ContentLength !== undefined && res.ContentLength > maxBytes) {
        throw inputTooLarge(field, maxBytes, res.ContentLength);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body ?? []) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) throw inputTooLarge(field, maxBytes, size);
        chunks.push(chunk as Buffer);
      }
      return { data: Buffer.concat(chunks, size), name: keyName(key) };
    } catch (err) {
      if (body && !body.destroyed) {
        body.on('error', () => {});
        body.destroy();
      }
      if (err instanceof StorageError) throw err;
      throw this.failure(err, field, key);
    }
  }

  async write(key: string, data: Buffer, contentType: string, { signal, field }: WriteOptions): Promise<ObjectLocation> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: key,
          Body: data,
          ContentType: contentType,
          ContentLength: data.length,
          ContentMD5: createHash('md5').update(data).digest('base64'),
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw this.failure(err, field, key);
    }
    return this.location(key);
  }

  async list(prefix: string, { recursive, signal, limit, field }: ListOptions): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.opts.bucket,
            Prefix: prefix || undefined,
            Delimiter: recursive ? undefined : '/',
            MaxKeys: this.opts.listPageSize ?? 1000,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw this.failure(err, field, prefix);
      }
      for (const item of page.Contents ?? []) {
        // Zero-byte keys ending in `/` are folder markers made by consoles, not files.
        if (item.Key && !item.Key.endsWith('/')) keys.push(item.Key);
      }
      if (keys.length > limit) throw folderTooLarge(this.opts.storage, prefix, field, limit);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  private failure(err: unknown, field: string, key: string): StorageError {
    const storage = this.opts.storage;
    const bucket = this.opts.bucket;
    const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const details = { field, storage, bucket, cause: e?.name ?? e?.code ?? 'error' };
    switch (classifyS3Error(err)) {
      case 'not_found':
        return objectNotFound(storage, key, field);
      case 'no_bucket':
        return new StorageError('bucket_not_found', `${field}: the bucket "${bucket}" of storage "${storage}" does not exist.`, details);
      case 'denied':
        return new StorageError(
          'storage_access_denied',
          `${field}: the bucket "${bucket}" refused the credentials of storage "${storage}" (${details.cause}).`,
          details,
        );
      case 'aborted':
        return new StorageError('storage_request_aborted', `${field}: the request to storage "${storage}" was cancelled.`, details);
      case 'unreachable':
        return new StorageError(
          'storage_unreachable',
          `${field}: the object store of storage "${storage}" could not be reached (${details.cause}).`,
          details,
        );
      default:
        return new StorageError(
          'storage_error',
          `${field}: storage "${storage}" failed: ${e?.name ?? 'error'}${e?.message ? ` (${e.message.slice(0, 200)})` : ''}.`,
          { ...details, status: e?.$metadata?.httpStatusCode },
        );
    }
  }

  close(): void {
    this.client.destroy();
  }
}
