import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { signatureHeaderValue, verifySignatureHeader } from '../../src/webhooks/signing.js';
import { javascriptVerify, pythonVerify, rubyVerify } from './reference-verifiers.js';

// A body with non-ASCII text and escapes, so "the exact raw bytes" is tested, not just ASCII.
const body = Buffer.from(
  JSON.stringify({ data: { id: 7, status: 'DONE', request: { input: 'https://example.com/caf\u00e9 \u{1F600}.jpg', note: 'a"b\\c' } } }),
  'utf8',
);
const secret = 's3cr\u00eat-key with spaces';

describe('webhook signatures', () => {
  test('the header is sha256=<hex HMAC-SHA256 of the raw body>', () => {
    const header = signatureHeaderValue(secret, body);
    const hex = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
    assert.equal(header, `sha256=${hex}`);
    assert.match(header, /^sha256=[0-9a-f]{64}$/);
    // RFC 4231 test case 2 pins the primitive itself.
    assert.equal(
      signatureHeaderValue('Jefe', 'what do ya want for nothing?'),
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  test('a string body and its UTF-8 bytes sign the same', () => {
    assert.equal(signatureHeaderValue(secret, body.toString('utf8')), signatureHeaderValue(secret, body));
  });

  test("the reference's Python, JavaScript and Ruby verifiers accept it", async () => {
    const header = signatureHeaderValue(secret, body);
    assert.equal(pythonVerify(body, secret, header), true);
    assert.equal(await javascriptVerify(secret, header, body.toString('utf8')), true);
    assert.equal(rubyVerify(body, secret, header), true);
    assert.equal(verifySignatureHeader(secret, body, header), true);
  });

  test('they reject a tampered body, a wrong secret and a bare hex digest', async () => {
    const header = signatureHeaderValue(secret, body);
    const tampered = Buffer.from(body.toString('utf8').replace('"DONE"', '"ERROR"'), 'utf8');
    assert.notDeepEqual(tampered, body);
    assert.equal(pythonVerify(tampered, secret, header), false);
    assert.equal(await javascriptVerify(secret, header, tampered.toString('utf8')), false);
    assert.equal(rubyVerify(tampered, secret, header), false);
    assert.equal(verifySignatureHeader(secret, tampered, header), false);

    const wrongKey = signatureHeaderValue('another secret', body);
    assert.equal(pythonVerify(body, secret, wrongKey), false);
    assert.equal(await javascriptVerify(secret, wrongKey, body.toString('utf8')), false);
    assert.equal(rubyVerify(body, secret, wrongKey), false);

    // Without the prefix the string comparisons fail: the prefix is part of the expected form.
    const bare = header.slice('sha256='.length);
    assert.equal(pythonVerify(body, secret, bare), false);
    assert.equal(rubyVerify(body, secret, bare), false);
    assert.equal(verifySignatureHeader(secret, body, bare), false);
    assert.throws(() => pythonVerify(body, secret, undefined), /missing/);
    assert.equal(verifySignatureHeader(secret, body, undefined), false);
  });
});
