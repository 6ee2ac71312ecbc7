// Child-process entry of the loopback S3 server used by the storage tests: s3rver (the @20minutes fork, an
// S3-compatible server written for Node, with SigV4 signature checking) on 127.0.0.1 and a random port.
// Run with --openssl-legacy-provider: s3rver's list continuation tokens use DES.
// Input (env): S3_DIR (data folder), S3_BUCKETS (comma-separated), S3_KEYS (JSON [[access, secret], ...]).
// Output: one JSON line `{"port": N}` on stdout once listening. SIGTERM stops it.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
interface AccountModule {
  DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}

const S3rver = require('@20minutes/s3rver') as S3rverClass;
const accounts = require('@20minutes/s3rver/lib/models/account.js') as AccountModule;

const keys = JSON.parse(process.env.S3_KEYS ?? '[]') as [string, string][];
for (const [access, secret] of keys) accounts.DUMMY_ACCOUNT.createKeyPair(access, secret);

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.env.S3_DIR,
  configureBuckets: (process.env.S3_BUCKETS ?? '')
    .split(',')
    .filter(Boolean)
    .map((name) => ({ name })),
});

const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

process.on('SIGTERM', () => {
  void server.close().finally(() => process.exit(0));
});
