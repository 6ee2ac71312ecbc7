// The dispatcher and the Webhooks service with a scripted transport (exact schedule, no network), and the
// guarded transport against a real loopback receiver.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../../src/db/sqlite.js';
import { ValidationError } from '../../src/errors.js';
import { OutboundGuard } from '../../src/storage/guard.js';
import type { TaskRecord } from '../../src/tasks/index.js';
import type { WebhookRequest, WebhookTransport } from '../../src/webhooks/dispatcher.js';
import type { AttemptResult } from '../../src/webhooks/schedule.js';
import { Webhooks, validateWebhookUrl, type WebhooksOptions } from '../../src/webhooks/service.js';
import { deriveSecretKey } from '../../src/webhooks/settings.js';
import { createUrlCheck, guardedTransport } from '../../src/webhooks/transport.js';
import { pythonVerify } from './reference-verifiers.js';

const secretKey = deriveSecretKey('dispatcher-tests');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Call {
  at: number;
  request: WebhookRequest;
}

/** A transport that answers from a script (the last entry repeats) and records when it was called. */
function scripted(script: Array<AttemptResult | (() => Promise<AttemptResult>)>): { transport: WebhookTransport; calls: Call[] } {
  const calls: Call[] = [];
  const transport: WebhookTransport = async (request) => {
    calls.push({ at: performance.now(), request });
    const step = script[Math.min(calls.length - 1, script.length - 1)]!;
    return typeof step === 'function' ? step() : step;
  };
  return { transport, calls };
}

function task(id: number, status: TaskRecord['status'], owner = 'acct', kind = 'edit'): TaskRecord {
  return {
    id,
    kind,
    status,
    owner,
    request: { input: 'https://example.com/a.jpg', operations: {} },
    result: status === 'DONE' ? { ok: true } : null,
    errors: status === 'ERROR' ? [{ error: 'bad', created_at: '2026-01-01T00:00:00.000+00:00' }] : [],
    createdAt: '2026-01-01T00:00:00.000+00:00',
    updatedAt: '2026-01-01T00:00:01.000+00:00',
    startedAt: null,
    finishedAt: null,
    attempts: 1,
    maxAttempts: 3,
    leaseOwner: null,
    leaseUntil: null,
  };
}

const allowAll = async () => {};

function makeWebhooks(transport: WebhookTransport, options: Partial<WebhooksOptions> = {}): Webhooks {
  const webhooks = new Webhooks({
    db: openDatabase(':memory:'),
    secretKey,
    transport,
    checkUrl: allowAll,
    retryDelaysMs: [60, 120, 240],
    timeoutMs: 1000,
    pollMs: 50,
    ...options,
  });
  webhooks.registerTaskView('edit', (t) => ({ data: { id: t.id, status: t.status, errors: t.errors } }));
  return webhooks;
}

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const ok: AttemptResult = { kind: 'response', status: 200 };
const unavailable: AttemptResult = { kind: 'response', status: 503 };

describe('webhook dispatcher', () => {
  test('retries on the schedule, at least the configured delay apart, and gives up after the fourth attempt', async () => {
    const { transport, calls } = scripted([unavailable]);
    const webhooks = makeWebhooks(transport);
    await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['success', 'failed'] });
    webhooks.start();
    try {
      const delivery = webhooks.taskSettled(task(1, 'DONE'))!;
      await until('failure', () => webhooks.deliveries.get('acct', delivery.id)!.state === 'failed');
      await sleep(400); // nothing after the last attempt
      assert.equal(calls.length, 4);
      const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
      [60, 120, 240].forEach((delay, i) => assert.ok(gaps[i]! >= delay - 1, `gap ${i + 1}: ${gaps[i]} ms < ${delay} ms`));
      assert.deepEqual(calls.map((c) => c.request.headers['x-atelier-attempt']), ['1', '2', '3', '4']);
      const view = webhooks.view(webhooks.deliveries.get('acct', delivery.id)!);
      assert.equal(view.status, 'failed');
      assert.equal(view.attempt_count, 4);
      assert.equal(view.max_attempts, 4);
      assert.deepEqual(view.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [
        [1, 503, 'retry'],
        [2, 503, 'retry'],
        [3, 503, 'retry'],
        [4, 503, 'retry'],
      ]);
      assert.ok(view.attempts.every((a) => typeof a.latency_ms === 'number' && a.error === 'HTTP 503'));
    } finally {
      await webhooks.stop();
    }
  });

  test('stops at the first 2xx, after network failures, and never sends again', async () => {
    const { transport, calls } = scripted([{ kind: 'network', error: 'connect ECONNREFUSED' }, { kind: 'response', status: 429 }, ok]);
    const webhooks = makeWebhooks(transport);
    await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['success'] });
    webhooks.start();
    try {
      const d = webhooks.taskSettled(task(2, 'DONE'))!;
      await until('delivery', () => webhooks.deliveries.get('acct', d.id)!.state === 'delivered');
      await sleep(500);
      assert.equal(calls.length, 3);
      const log = webhooks.deliveries.attempts(d.id);
      assert.deepEqual(log.map((a) => [a.statusCode, a.error, a.outcome]), [
        [null, 'connect ECONNREFUSED', 'retry'],
        [429, 'HTTP 429', 'retry'],
        [200, null, 'delivered'],
      ]);
      // The same task announced again (two listeners, a recovery) adds nothing.
      assert.equal(webhooks.taskSettled(task(2, 'DONE')), undefined);
    } finally {
      await webhooks.stop();
    }
  });

  test('a 4xx other than 408/429, or a refused address, ends the delivery at once', async () => {
    for (const result of [{ kind: 'response', status: 410 }, { kind: 'refused', error: 'private address' }] as AttemptResult[]) {
      const { transport, calls } = scripted([result]);
      const webhooks = makeWebhooks(transport);
      await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['failed'] });
      webhooks.start();
      try {
        const d = webhooks.taskSettled(task(3, 'ERROR'))!;
        await until('failure', () => webhooks.deliveries.get('acct', d.id)!.state === 'failed');
        await sleep(200);
        assert.equal(calls.length, 1);
        assert.equal(webhooks.deliveries.attempts(d.id)[0]!.outcome, 'final');
      } finally {
        await webhooks.stop();
      }
    }
  });

  test('events filter, final statuses only, registered kinds only, the exact view bytes', async () => {
    const { transport, calls } = scripted([ok]);
    const webhooks = makeWebhooks(transport);
    await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['failed'] });
    assert.equal(webhooks.taskSettled(task(10, 'DONE')), undefined, 'success is not subscribed');
    assert.equal(webhooks.taskSettled(task(11, 'CANCELLED')), undefined);
    assert.equal(webhooks.taskSettled(task(12, 'ERROR', 'someone-else')), undefined, 'no settings for that account');
    assert.equal(webhooks.taskSettled(task(13, 'ERROR', 'acct', 'batch')), undefined, 'no view registered for batch');
    const t = task(14, 'ERROR');
    const d = webhooks.taskSettled(t)!;
    assert.equal(d.event, 'failed');
    assert.equal(d.body.toString('utf8'), JSON.stringify({ data: { id: 14, status: 'ERROR', errors: t.errors } }));
    webhooks.start();
    try {
      await until('delivery', () => calls.length === 1);
      assert.deepEqual(calls[0]!.request.body, d.body);
      assert.equal(calls[0]!.request.headers['content-type'], 'application/json');
      assert.equal(calls[0]!.request.headers['x-atelier-event'], 'failed');
      assert.equal(calls[0]!.request.headers['X-Claid-Hmac-SHA256'], undefined, 'no secret, no signature');
      assert.throws(() => webhooks.registerTaskView('edit', () => ({})), /already registered/);
    } finally {
      await webhooks.stop();
    }
  });

  test('each attempt signs with the secret set at that moment; disabling cancels what is left', async () => {
    const { transport, calls } = scripted([unavailable]);
    const webhooks = makeWebhooks(transport, { retryDelaysMs: [150, 150, 150] });
    await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['success'], secret: 'first' });
    webhooks.start();
    try {
      const d = webhooks.taskSettled(task(20, 'DONE'))!;
      await until('first attempt', () => calls.length === 1);
      await webhooks.configure('acct', { url: 'https://hooks.example/y', events: ['success'], secret: 'second' });
      await until('second attempt', () => calls.length === 2);
      const [first, second] = calls as [Call, Call];
      assert.ok(pythonVerify(d.body, 'first', first.request.headers['X-Claid-Hmac-SHA256']));
      assert.ok(pythonVerify(d.body, 'second', second.request.headers['X-Claid-Hmac-SHA256']));
      assert.equal(second.request.url, 'https://hooks.example/y');
      assert.deepEqual(webhooks.disable('acct'), { cancelled: 1 });
      await sleep(400);
      assert.equal(calls.length, 2);
      assert.equal(webhooks.deliveries.get('acct', d.id)!.state, 'cancelled');
    } finally {
      await webhooks.stop();
    }
  });

  test('shutdown interrupts an attempt in flight; the next start sends it again without using an attempt', async () => {
    const db = openDatabase(':memory:');
    let release: () => void = () => {};
    const hanging = scripted([
      () =>
        new Promise<AttemptResult>((resolve) => {
          release = () => resolve({ kind: 'network', error: 'aborted' });
        }),
    ]);
    const first = makeWebhooks(async (req) => {
      req.signal.addEventListener('abort', () => release());
      return hanging.transport(req);
    }, { db });
    await first.configure('acct', { url: 'https://hooks.example/x', events: ['success'] });
    first.start();
    const d = first.taskSettled(task(30, 'DONE'))!;
    await until('attempt in flight', () => hanging.calls.length === 1);
    await first.stop(20);
    let row = first.deliveries.get('acct', d.id)!;
    assert.deepEqual([row.state, row.attempts], ['pending', 0]);
    assert.equal(first.deliveries.attempts(d.id)[0]!.outcome, 'interrupted');

    const { transport, calls } = scripted([ok]);
    const second = makeWebhooks(transport, { db });
    second.start();
    try {
      await until('re-sent', () => second.deliveries.get('acct', d.id)!.state === 'delivered');
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.request.headers['x-atelier-attempt'], '1');
      row = second.deliveries.get('acct', d.id)!;
      assert.equal(row.attempts, 1);
    } finally {
      await second.stop();
    }
  });

  test('resend makes a new delivery with its own schedule; none without settings', async () => {
    const { transport, calls } = scripted([ok]);
    const webhooks = makeWebhooks(transport);
    await webhooks.configure('acct', { url: 'https://hooks.example/x', events: ['success'] });
    webhooks.start();
    try {
      const d = webhooks.taskSettled(task(40, 'DONE'))!;
      await until('delivered', () => webhooks.deliveries.get('acct', d.id)!.state === 'delivered');
      const again = webhooks.resend('acct', d.id)!;
      assert.equal(again.resendOf, d.id);
      await until('re-sent', () => webhooks.deliveries.get('acct', again.id)!.state === 'delivered');
      assert.equal(calls.length, 2);
      assert.deepEqual(calls[1]!.request.body, calls[0]!.request.body);
      assert.equal(calls[1]!.request.headers['x-atelier-delivery'], String(again.id));
      assert.equal(webhooks.resend('other', d.id), undefined);
      webhooks.disable('acct');
      assert.throws(() => webhooks.resend('acct', d.id), /No webhook is configured/);
    } finally {
      await webhooks.stop();
    }
  });
});

describe('webhook URLs and the guarded transport', () => {
  async function receiver(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void) {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
  }

  const request = (url: string, timeoutMs = 2000): WebhookRequest => ({
    url,
    headers: { 'content-type': 'application/json', 'X-Claid-Hmac-SHA256': 'sha256=00' },
    body: Buffer.from('{"data":{}}'),
    timeoutMs,
    signal: new AbortController().signal,
  });

  test('saving refuses private, loopback and metadata addresses unless allowlisted, and odd URLs', async () => {
    const strict = createUrlCheck(new OutboundGuard({ allowlist: [] }));
    for (const url of ['http://127.0.0.1:9/hook', 'http://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[::1]/x', 'http://metadata.google.internal/']) {
      await assert.rejects(validateWebhookUrl(url, strict), (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(err.status, 422);
        const issue = (err.details.errors as { loc: string[]; type: string }[])[0]!;
        assert.deepEqual(issue.loc, ['body', 'url']);
        assert.equal(issue.type, 'url_not_allowed');
        return true;
      }, url);
    }
    for (const url of ['ftp://example.com/x', 'https://example.com/x#frag', 'not a url', 'https://user:pw@example.com/']) {
      await assert.rejects(validateWebhookUrl(url, strict), ValidationError, url);
    }
    const loopbackAllowed = createUrlCheck(new OutboundGuard({ allowlist: ['127.0.0.1'] }));
    assert.equal((await validateWebhookUrl('http://127.0.0.1:9/hook', loopbackAllowed)).href, 'http://127.0.0.1:9/hook');
    // A public literal passes without any DNS.
    assert.equal((await validateWebhookUrl('https://93.184.215.14/hook', strict)).host, '93.184.215.14');
  });

  test('POSTs the exact bytes and headers; 2xx (even with a large body) delivers; redirects are not followed', async () => {
    const received: { headers: IncomingMessage['headers']; body: Buffer; method?: string }[] = [];
    const rx = await receiver((req, res, body) => {
      received.push({ headers: req.headers, body, method: req.method });
      if (req.url === '/big') res.writeHead(200).end(Buffer.alloc(200 * 1024, 1));
      else if (req.url === '/moved') res.writeHead(307, { location: '/ok' }).end();
      else if (req.url === '/down') res.writeHead(502).end('bad gateway');
      else res.writeHead(204).end();
    });
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1'] });
    const send = guardedTransport(guard);
    try {
      const r = request(`${rx.url}/ok`);
      assert.deepEqual(await send(r), { kind: 'response', status: 204 });
      assert.equal(received[0]!.method, 'POST');
      assert.deepEqual(received[0]!.body, r.body);
      assert.equal(received[0]!.headers['content-type'], 'application/json');
      assert.equal(received[0]!.headers['x-claid-hmac-sha256'], 'sha256=00');

      const big = await send(request(`${rx.url}/big`));
      assert.equal(big.kind, 'response');
      assert.equal(big.kind === 'response' && big.status, 200);

      assert.deepEqual(await send(request(`${rx.url}/down`)), { kind: 'response', status: 502 });

      const moved = await send(request(`${rx.url}/moved`));
      assert.equal(moved.kind, 'refused');
      assert.equal(received.filter((x) => x.method === 'POST').length, 4, 'the redirect target was not requested');

      const strict = guardedTransport(new OutboundGuard({ allowlist: [] }));
      const refused = await strict(request(`${rx.url}/ok`));
      assert.equal(refused.kind, 'refused');
      assert.equal(received.length, 4, 'a refused address is never contacted');
    } finally {
      await guard.close();
      await rx.close();
    }
  });

  test('a receiver that does not answer in time, or is not there, is a retryable network failure', async () => {
    const rx = await receiver(() => {}); // never answers
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1'] });
    const send = guardedTransport(guard);
    try {
      const started = performance.now();
      const slow = await send(request(`${rx.url}/hang`, 300));
      assert.equal(slow.kind, 'network');
      assert.ok(performance.now() - started >= 290);
      await rx.close();
      const gone = await send(request(rx.url, 1000));
      assert.equal(gone.kind, 'network');
    } finally {
      await guard.close();
      await rx.close().catch(() => {});
    }
  });
});
