import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretBox, UnsealError, storageSecretBox } from '../../src/storage/secrets.js';

function failure(fn: () => unknown): UnsealError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UnsealError, String(err));
    return err;
  }
  assert.fail('expected UnsealError');
}

describe('SecretBox', () => {
  const box = SecretBox.fromMaterial('an installation secret of enough length');

  test('seals to a versioned, non-repeating form that opens to the plaintext', () => {
    const a = box.seal('s3cr3t', 'ctx');
    const b = box.seal('s3cr3t', 'ctx');
    assert.notEqual(a, b);
    assert.match(a, /^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.ok(!a.includes('s3cr3t'));
    assert.equal(box.open(a, 'ctx'), 's3cr3t');
    assert.equal(box.open(box.seal('', 'ctx'), 'ctx'), '');
    assert.equal(box.open(box.seal('ünïcødé ✓', 'ctx'), 'ctx'), 'ünïcødé ✓');
  });

  test('another key is recognised as such', () => {
    const sealed = box.seal('s3cr3t', 'ctx');
    assert.equal(failure(() => SecretBox.fromMaterial('another secret entirely').open(sealed, 'ctx')).reason, 'other_key');
  });

  test('tampering, another context or garbage is refused as corrupt', () => {
    const sealed = box.seal('s3cr3t', 'owner-a');
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[4]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[4] = ct.toString('base64url');
    assert.equal(failure(() => box.open(parts.join('.'), 'owner-a')).reason, 'corrupt');
    assert.equal(failure(() => box.open(sealed, 'owner-b')).reason, 'corrupt');
    assert.equal(failure(() => box.open('plain text', 'owner-a')).reason, 'corrupt');
  });

  test('the same material gives the same key; the purpose separates keys', () => {
    const sealed = box.seal('x', 'c');
    assert.equal(SecretBox.fromMaterial('an installation secret of enough length').open(sealed, 'c'), 'x');
    assert.notEqual(SecretBox.fromMaterial('m'.repeat(20), 'a').keyId, SecretBox.fromMaterial('m'.repeat(20), 'b').keyId);
  });
});

describe('storageSecretBox', () => {
  test('prefers ATELIER_SECRET_KEY, refusing short ones; falls back to the installation secret lazily', () => {
    let read = 0;
    const installation = () => {
      read += 1;
      return 'installation-secret-hex';
    };
    const fromEnv = storageSecretBox('k'.repeat(32), installation);
    assert.equal(read, 0);
    assert.equal(fromEnv.keyId, SecretBox.fromMaterial('k'.repeat(32)).keyId);
    assert.throws(() => storageSecretBox('short', installation), /at least 16 characters/);
    const fallback = storageSecretBox(undefined, installation);
    assert.equal(read, 1);
    assert.equal(fallback.keyId, SecretBox.fromMaterial('installation-secret-hex').keyId);
  });
});
