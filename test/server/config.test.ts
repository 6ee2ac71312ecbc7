import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { boolVar, httpUrlVar, intVar, listVar } from '../../src/env.js';

test('environment readers: fallbacks for unset or empty values, clear errors naming the variable', () => {
  assert.equal(intVar({}, 'N', 7), 7);
  assert.equal(intVar({ N: '' }, 'N', 7), 7);
  assert.equal(intVar({ N: '12' }, 'N', 7, 1), 12);
  assert.throws(() => intVar({ N: '0' }, 'N', 7, 1), /N must be an integer >= 1, got "0"/);
  assert.throws(() => intVar({ N: '1.5' }, 'N', 7), /N must be an integer/);
  assert.equal(boolVar({ B: 'Yes' }, 'B', false), true);
  assert.equal(boolVar({ B: 'off' }, 'B', true), false);
  assert.equal(boolVar({}, 'B', true), true);
  assert.throws(() => boolVar({ B: 'maybe' }, 'B', true), /B must be true or false/);
  assert.equal(httpUrlVar({ U: ' http://127.0.0.1:9000// ' }, 'U'), 'http://127.0.0.1:9000');
  assert.equal(httpUrlVar({}, 'U'), undefined);
  assert.throws(() => httpUrlVar({ U: 'ftp://x' }, 'U'), /U must be an http\(s\) URL/);
  assert.deepEqual(listVar({ L: ' a, ,b ,' }, 'L'), ['a', 'b']);
});

test('loadConfig reads every setting, storage and webhooks included, from the environment it is given', () => {
  const config = loadConfig({
    PORT: '9123',
    ATELIER_DATA_DIR: '/tmp/atelier-config-test',
    ATELIER_URL_ALLOWLIST: '127.0.0.1, 10.0.0.0/8',
    ATELIER_S3_ENDPOINT: 'http://127.0.0.1:9000/',
    ATELIER_STORAGE_MAX_LISTED_FILES: '50',
    ATELIER_WEBHOOK_RETRY_DELAYS_MS: '100,200',
    ATELIER_WEBHOOK_TIMEOUT_MS: '1500',
  });
  assert.equal(config.port, 9123);
  assert.equal(config.publicUrl, 'http://localhost:9123');
  assert.deepEqual(config.urlAllowlist, ['127.0.0.1', '10.0.0.0/8']);
  assert.equal(config.storage.dataDir, resolve('/tmp/atelier-config-test'));
  assert.equal(config.storage.localRoot, join(resolve('/tmp/atelier-config-test'), 'storage'));
  assert.equal(config.storage.s3.endpoint, 'http://127.0.0.1:9000');
  assert.equal(config.storage.s3.forcePathStyle, true, 'a custom S3 endpoint defaults to path-style addressing');
  assert.equal(config.storage.maxListedFiles, 50);
  assert.deepEqual(config.webhooks.retryDelaysMs, [100, 200]);
  assert.equal(config.webhooks.timeoutMs, 1500);
  assert.throws(() => loadConfig({ ATELIER_WEBHOOK_CONCURRENCY: '0' }), /ATELIER_WEBHOOK_CONCURRENCY/);
  assert.throws(() => loadConfig({ ATELIER_S3_FORCE_PATH_STYLE: 'sometimes' }), /ATELIER_S3_FORCE_PATH_STYLE/);
});
