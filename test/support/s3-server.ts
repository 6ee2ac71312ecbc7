// Starts a real S3-compatible server on loopback for the storage tests (s3rver, from the npm devDependency
// @20minutes/s3rver), in a child process, with the buckets and key pairs a test asks for. The tests use the
// AWS SDK against it only to check what landed in the bucket; Atelier's connectors talk to it as to any
// S3 service. Nothing is mocked.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface S3TestServer {
  endpoint: string;
  /** Reads an object straight from the server (undefined when missing). */
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  put(bucket: string, key: string, data: Buffer | string): Promise<void>;
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  buckets: string[];
  /** Key pairs the server accepts, as [access key, secret]. */
  keys: [string, string][];
}

function assertInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('@20minutes/s3rver');
  } catch {
    throw new Error(
      'The loopback S3 server for the storage tests is missing. It is the npm devDependency @20minutes/s3rver: ' +
        'run `npm ci` (or `npm install`) in the repository first.',
    );
  }
}

export async function startS3Server(opts: S3ServerOptions): Promise<S3TestServer> {
  assertInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'atelier-s3-'));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '--import', 'tsx', join(HERE, 's3-server-main.ts')],
    {
      env: { ...process.env, S3_DIR: dir, S3_BUCKETS: opts.buckets.join(','), S3_KEYS: JSON.stringify(opts.keys) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolvePort, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`the S3 test server did not start in time:\n${out}`)), 30_000);
    child.stdout?.on('data', (d) => {
      buffer += d;
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) {
        clearTimeout(timer);
        try {
          resolvePort((JSON.parse(line) as { port: number }).port);
        } catch {
          reject(new Error(`the S3 test server said something unexpected: ${line}\n${out}`));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the S3 test server exited (${code}) before listening:\n${out}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const [access, secret] = opts.keys[0] ?? ['S3RVER', 'S3RVER'];
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: access, secretAccessKey: secret },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    async get(bucket, key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async put(bucket, key, data) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: typeof data === 'string' ? Buffer.from(data) : data }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
