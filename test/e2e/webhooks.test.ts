// End to end: webhooks from a real server to a real receiver on loopback. Signatures checked with the
// reference's verification routines, bodies compared byte for byte with the GET answer, the retry schedule
// measured, and the schedule resumed across a SIGKILL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { createKey } from '../support/cli.js';
import { photo } from '../support/images.js';
import { javascriptVerify, pythonVerify, rubyVerify } from '../webhooks/reference-verifiers.js';

const DELAYS = [300, 600, 1200];
const serverEnv = {
  ATELIER_RATE_LIMIT_PER_MINUTE: '0',
  ATELIER_RATE_LIMIT_PER_SECOND: '0',
  ATELIER_WEBHOOK_RETRY_DELAYS_MS: DELAYS.join(','),
  ATELIER_WEBHOOK_TIMEOUT_MS: '3000',
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// A webhook receiver that records every POST (arrival time, headers, raw bytes) and answers from a script.

interface Receipt {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Receiver {
  url: string;
  receipts: Receipt[];
  at(path: string): Receipt[];
  /** Statuses to answer at `path`, in order; the last one repeats. Default 200. */
  script(path: string, statuses: number[]): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receipts: Receipt[] = [];
  const scripts = new Map<string, number[]>();
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const n = receipts.filter((r) => r.path === path).length;
      receipts.push({ at: performance.now(), path, headers: req.headers, body: Buffer.concat(chunks) });
      const script = scripts.get(path) ?? [200];
      const status = script[Math.min(n, script.length - 1)]!;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    receipts,
    at: (path) => receipts.filter((r) => r.path === path),
    script: (path, statuses) => void scripts.set(path, statuses),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------

let origin: ImageServer;
let rx: Receiver;

before(async () => {
  origin = await startImageServer();
  origin.file('/photo.jpg', photo('home.jpg'), 'image/jpeg');
  origin.file('/broken.jpg', Buffer.from('not an image'), 'image/jpeg');
  rx = await startReceiver();
});

after(async () => {
  await origin?.close();
  await rx?.close();
});

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function submit(api: RunningServer, token: string, input = `${origin.url}/photo.jpg`, width = 120) {
  return api.json('/v1/image/edit/async', { input, operations: { resizing: { width } } }, { key: token });
}

async function configure(api: RunningServer, token: string, body: object) {
  const res = await api.json('/v1/webhook', body, { key: token, method: 'PUT' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data;
}

async function deliveriesOf(api: RunningServer, token: string, taskId: number) {
  const res = await api.json(`/v1/webhook/deliveries?task_id=${taskId}`, undefined, { key: token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data as any[];
}

/** The `atelier` CLI on the server's data directory, with the same allowlist as the server. */
async function atelier(dataDir: string, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ATELIER_DATA_DIR: dataDir, ATELIER_URL_ALLOWLIST: '127.0.0.1', ATELIER_WEBHOOK_RETRY_DELAYS_MS: DELAYS.join(',') },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('webhooks', () => {
  let api: RunningServer;
  before(async () => {
    api = await startServer({ env: serverEnv });
  });
  after(async () => {
    await api?.dispose();
  });

  test('settings: validation, private addresses refused, secret never shown, disable', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    let res = await api.json('/v1/webhook', undefined, { key: token });
    assert.equal(res.status, 404);
    assert.equal(res.body.error_code, 'webhook_not_configured');

    const put = (body: unknown) => api.json('/v1/webhook', body, { key: token, method: 'PUT' });
    for (const bad of [
      { url: `${rx.url}/s`, colour: 'red' },
      { url: `${rx.url}/s`, events: ['finished'] },
      { url: `${rx.url}/s`, events: [] },
      { url: `${rx.url}/s`, secret: '' },
      { events: ['success'] },
      { url: 'not a url' },
    ]) {
      res = await put(bad);
      assert.equal(res.status, 422, JSON.stringify(bad));
      assert.equal(res.body.error_type, 'validation');
      assert.ok(Array.isArray(res.body.error_details.errors));
    }
    for (const url of ['http://10.0.0.7/hook', 'http://169.254.169.254/latest/meta-data', 'http://192.168.1.1/', 'ftp://example.com/x']) {
      res = await put({ url });
      assert.equal(res.status, 422, url);
      assert.deepEqual(res.body.error_details.errors[0].loc, ['body', 'url']);
    }

    const set = await configure(api, token, { url: `${rx.url}/s`, secret: 'shh-very-secret' });
    assert.deepEqual(set.events, ['success', 'failed'], 'both events by default');
    assert.equal(set.secret_set, true);
    res = await api.json('/v1/webhook', undefined, { key: token });
    assert.equal(res.status, 200);
    assert.ok(!JSON.stringify(res.body).includes('shh-very-secret'));
    assert.deepEqual(res.body.data, set);
    // Leaving the secret out keeps it; null removes it.
    assert.equal((await configure(api, token, { url: `${rx.url}/s2`, events: ['failed'] })).secret_set, true);
    assert.equal((await configure(api, token, { url: `${rx.url}/s2`, secret: null })).secret_set, false);

    const storageOnly = await createKey(api.dataDir, 'storage');
    res = await api.json('/v1/webhook', undefined, { key: storageOnly.token });
    assert.equal(res.status, 403);

    res = await api.json('/v1/webhook', undefined, { key: token, method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.disabled, true);
    res = await api.json('/v1/webhook', undefined, { key: token });
    assert.equal(res.status, 404);
    res = await api.json('/v1/webhook', undefined, { key: token, method: 'DELETE' });
    assert.equal(res.status, 404);
  });

  test('DONE and ERROR: the body is the GET answer byte for byte, signed as the reference verifies', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    const secret = 'whsec-\u00e9t\u00e9-2026';
    await configure(api, token, { url: `${rx.url}/signed`, events: ['success', 'failed'], secret });

    const done = await submit(api, token);
    const failed = await submit(api, token, `${origin.url}/broken.jpg`);
    const ids = [done.body.data.id as number, failed.body.data.id as number];
    const receipts = await until('two notifications', () => (rx.at('/signed').length >= 2 ? rx.at('/signed') : undefined));
    await sleep(300);
    assert.equal(rx.at('/signed').length, 2, 'one notification per task');

    for (const [i, id] of ids.entries()) {
      const receipt = receipts.find((r) => JSON.parse(r.body.toString('utf8')).data.id === id)!;
      assert.ok(receipt, `notification for task ${id}`);
      const get = await api.fetch(`/v1/image/edit/async/${id}`, { key: token });
      const getBytes = Buffer.from(await get.arrayBuffer());
      assert.ok(receipt.body.equals(getBytes), `body of task ${id} differs from its GET answer:\n${receipt.body}\n${getBytes}`);
      const data = JSON.parse(getBytes.toString('utf8')).data;
      assert.equal(data.status, i === 0 ? 'DONE' : 'ERROR');
      assert.equal(receipt.headers['x-atelier-event'], i === 0 ? 'success' : 'failed');
      assert.match(String(receipt.headers['content-type']), /^application\/json/);

      const header = receipt.headers['x-claid-hmac-sha256'] as string;
      assert.match(header, /^sha256=[0-9a-f]{64}$/);
      assert.equal(pythonVerify(receipt.body, secret, header), true);
      assert.equal(await javascriptVerify(secret, header, receipt.body.toString('utf8')), true);
      assert.equal(rubyVerify(receipt.body, secret, header), true);
      const tampered = Buffer.from(receipt.body.toString('utf8').replace(`"id":${id}`, `"id":${id + 1000}`), 'utf8');
      assert.equal(pythonVerify(tampered, secret, header), false);
      assert.equal(await javascriptVerify(secret, header, tampered.toString('utf8')), false);
      assert.equal(rubyVerify(tampered, secret, header), false);

      const [delivery] = await deliveriesOf(api, token, id);
      assert.equal(delivery.status, 'delivered');
      assert.equal(delivery.attempts.length, 1);
      assert.equal(delivery.attempts[0].status_code, 200);
    }
  });

  test('retry schedule: 5xx, 5xx, 5xx, then 2xx, each wait at least as long as configured', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    rx.script('/flaky', [500, 503, 502, 200]);
    await configure(api, token, { url: `${rx.url}/flaky` });
    const id = (await submit(api, token)).body.data.id as number;
    await until('four attempts', () => rx.at('/flaky').length >= 4);
    await sleep(DELAYS[2]! + 500);
    const receipts = rx.at('/flaky');
    assert.equal(receipts.length, 4, 'nothing after the 2xx');
    assert.deepEqual(receipts.map((r) => r.headers['x-atelier-attempt']), ['1', '2', '3', '4']);
    const gaps = receipts.slice(1).map((r, i) => r.at - receipts[i]!.at);
    DELAYS.forEach((delay, i) => {
      assert.ok(gaps[i]! >= delay - 2, `gap ${i + 1} is ${gaps[i]!.toFixed(0)} ms, less than ${delay} ms`);
      assert.ok(gaps[i]! < delay + 1500, `gap ${i + 1} is ${gaps[i]!.toFixed(0)} ms, far more than ${delay} ms`);
    });
    assert.ok(receipts.every((r) => r.body.equals(receipts[0]!.body)), 'every attempt sends the same bytes');
    const [delivery] = await deliveriesOf(api, token, id);
    assert.equal(delivery.status, 'delivered');
    assert.equal(delivery.attempt_count, 4);
    assert.deepEqual(delivery.attempts.map((a: any) => [a.attempt, a.status_code, a.outcome]), [
      [1, 500, 'retry'],
      [2, 503, 'retry'],
      [3, 502, 'retry'],
      [4, 200, 'delivered'],
    ]);
    for (const a of delivery.attempts) {
      assert.equal(typeof a.latency_ms, 'number');
      assert.ok(Date.parse(a.sent_at) > 0);
    }
  });

  test('gives up after the fourth attempt; a final 4xx stops at once', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    rx.script('/down', [500]);
    await configure(api, token, { url: `${rx.url}/down` });
    const id = (await submit(api, token)).body.data.id as number;
    await until('four attempts', () => rx.at('/down').length >= 4);
    await sleep(DELAYS[2]! * 2);
    assert.equal(rx.at('/down').length, 4);
    let [delivery] = await deliveriesOf(api, token, id);
    assert.equal(delivery.status, 'failed');
    assert.equal(delivery.next_attempt_at, null);
    assert.deepEqual(delivery.attempts.map((a: any) => a.status_code), [500, 500, 500, 500]);

    rx.script('/refuse', [422]);
    await configure(api, token, { url: `${rx.url}/refuse` });
    const id2 = (await submit(api, token)).body.data.id as number;
    await until('one attempt', () => rx.at('/refuse').length >= 1);
    await sleep(DELAYS[0]! * 3);
    assert.equal(rx.at('/refuse').length, 1);
    [delivery] = await deliveriesOf(api, token, id2);
    assert.equal(delivery.status, 'failed');
    assert.deepEqual(delivery.attempts.map((a: any) => [a.status_code, a.outcome]), [[422, 'final']]);
  });

  test('events filter: only failed subscribed, a DONE task sends nothing', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    await configure(api, token, { url: `${rx.url}/only-failed`, events: ['failed'] });
    const ok = (await submit(api, token)).body.data.id as number;
    await until('task done', async () => (await api.json(`/v1/image/edit/async/${ok}`, undefined, { key: token })).body.data.status === 'DONE');
    const bad = (await submit(api, token, `${origin.url}/broken.jpg`)).body.data.id as number;
    await until('failure notification', () => rx.at('/only-failed').length >= 1);
    await sleep(500);
    const ids = rx.at('/only-failed').map((r) => JSON.parse(r.body.toString('utf8')).data.id);
    assert.deepEqual(ids, [bad]);
    assert.deepEqual(await deliveriesOf(api, token, ok), []);
  });

  test('delivery log and resend through the API and the CLI', async () => {
    const key = await createKey(api.dataDir, 'image_editing');
    rx.script('/log', [410, 200]);
    await configure(api, key.token, { url: `${rx.url}/log`, secret: 'api-secret' });
    const id = (await submit(api, key.token)).body.data.id as number;
    await until('first attempt', () => rx.at('/log').length >= 1);
    const [first] = await until('failed delivery', async () => {
      const list = await deliveriesOf(api, key.token, id);
      return list[0]?.status === 'failed' ? list : undefined;
    });
    assert.equal(first.attempts[0].status_code, 410);

    // API resend: a new delivery with its own schedule, same body.
    let res = await api.json(`/v1/webhook/deliveries/${first.id}/resend`, undefined, { key: key.token, method: 'POST' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const again = res.body.data;
    assert.notEqual(again.id, first.id);
    assert.equal(again.resend_of, first.id);
    await until('re-sent', () => rx.at('/log').length >= 2);
    const [a, b] = rx.at('/log') as [Receipt, Receipt];
    assert.ok(b.body.equals(a.body));
    assert.equal(b.headers['x-atelier-delivery'], String(again.id));
    res = await until('delivered', async () => {
      const r = await api.json(`/v1/webhook/deliveries/${again.id}`, undefined, { key: key.token });
      return r.body.data.status === 'delivered' ? r : undefined;
    });
    assert.equal(res.body.data.attempts[0].status_code, 200);

    // Another key sees neither the log nor the deliveries.
    const other = await createKey(api.dataDir, 'image_editing');
    res = await api.json(`/v1/webhook/deliveries/${first.id}`, undefined, { key: other.token });
    assert.equal(res.status, 404);
    res = await api.json(`/v1/webhook/deliveries/${first.id}/resend`, undefined, { key: other.token, method: 'POST' });
    assert.equal(res.status, 404);
    assert.deepEqual(await deliveriesOf(api, other.token, id), []);
    res = await api.json(`/v1/webhook/deliveries?task_id=${id}&colour=red`, undefined, { key: key.token });
    assert.equal(res.status, 422);

    // The CLI reads the same log, newest first.
    const listed = await atelier(api.dataDir, 'webhook', 'deliveries', '--task', String(id), '--key-id', key.id, '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const cliLog = JSON.parse(listed.stdout);
    assert.deepEqual(cliLog.map((d: any) => [d.id, d.status]), [[again.id, 'delivered'], [first.id, 'failed']]);
    assert.deepEqual(cliLog, await deliveriesOf(api, key.token, id));
    const text = await atelier(api.dataDir, 'webhook', 'deliveries', '--task', String(id), '--key-id', key.id);
    assert.match(text.stdout, new RegExp(`delivery ${first.id}\\s+task ${id}\\s+success\\s+failed`));
    assert.match(text.stdout, /status 410/);

    // CLI resend: the running server picks it up from the shared store within its poll interval.
    rx.script('/log', [200]);
    const resent = await atelier(api.dataDir, 'webhook', 'resend', String(first.id), '--key-id', key.id, '--json');
    assert.equal(resent.code, 0, resent.stderr);
    const third = JSON.parse(resent.stdout);
    assert.equal(third.resend_of, first.id);
    await until('CLI re-send delivered', () => rx.at('/log').length >= 3, 10_000);
    assert.ok(pythonVerify(rx.at('/log')[2]!.body, 'api-secret', rx.at('/log')[2]!.headers['x-claid-hmac-sha256'] as string));
  });

  test('CLI settings: account choice, guard, secret kept out of sight, disable', async () => {
    const dir = api.dataDir; // several keys exist by now, so the account must be named
    let out = await atelier(dir, 'webhook', 'show');
    assert.equal(out.code, 1);
    assert.match(out.stderr, /--key-id/);

    const key = await createKey(dir, 'image_editing');
    out = await atelier(dir, 'webhook', 'set', '--url', 'http://10.9.8.7/hook', '--key-id', key.id);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /not allowed/);
    out = await atelier(dir, 'webhook', 'set', '--url', `${rx.url}/cli`, '--events', 'success', '--secret', 'cli-secret', '--key-id', key.id, '--json');
    assert.equal(out.code, 0, out.stderr);
    out = await atelier(dir, 'webhook', 'show', '--key-id', key.id, '--json');
    const shown = JSON.parse(out.stdout);
    assert.deepEqual([shown.account, shown.url, shown.events, shown.secret_set], [key.id, `${rx.url}/cli`, ['success'], true]);
    assert.ok(!out.stdout.includes('cli-secret'));
    const res = await api.json('/v1/webhook', undefined, { key: key.token });
    assert.deepEqual(res.body.data, { url: shown.url, events: shown.events, secret_set: true, created_at: shown.created_at, updated_at: shown.updated_at });

    // The server signs with the secret the CLI stored.
    await submit(api, key.token);
    const [receipt] = await until('notification', () => (rx.at('/cli').length ? rx.at('/cli') : undefined));
    assert.equal(pythonVerify(receipt!.body, 'cli-secret', receipt!.headers['x-claid-hmac-sha256'] as string), true);

    out = await atelier(dir, 'webhook', 'disable', '--key-id', key.id);
    assert.equal(out.code, 0, out.stderr);
    out = await atelier(dir, 'webhook', 'show', '--key-id', key.id);
    assert.match(out.stdout, /No webhook is configured/);
    assert.equal((await api.json('/v1/webhook', undefined, { key: key.token })).status, 404);
  });
});

describe('webhooks across a crash', () => {
  test('a pending retry survives SIGKILL and resumes; nothing is sent again after the 2xx', async () => {
    const env = { ...serverEnv, ATELIER_WEBHOOK_RETRY_DELAYS_MS: '1500,1500,1500' };
    rx.script('/crash', [500, 500, 200]);
    const first = await startServer({ env });
    let id: number;
    try {
      await configure(first, first.key, { url: `${rx.url}/crash`, secret: 'k' });
      id = (await submit(first, first.key)).body.data.id as number;
      // Wait until attempt 1 is recorded and attempt 2 is scheduled, then kill.
      await until('a retry pending', async () => {
        const [d] = await deliveriesOf(first, first.key, id);
        return d?.status === 'pending' && d.attempt_count === 1;
      });
      await first.stop('SIGKILL');
    } catch (err) {
      await first.dispose();
      throw err;
    }
    assert.equal(rx.at('/crash').length, 1);

    let second = await startServer({ dataDir: first.dataDir, env });
    try {
      await until('attempts 2 and 3 after the restart', () => rx.at('/crash').length >= 3, 15_000);
      const receipts = rx.at('/crash');
      assert.deepEqual(receipts.map((r) => r.headers['x-atelier-attempt']), ['1', '2', '3']);
      assert.ok(receipts[1]!.at - receipts[0]!.at >= 1500 - 2, 'the stored due time held across the restart');
      assert.ok(receipts.every((r) => r.body.equals(receipts[0]!.body)));
      const [d] = await until('delivered', async () => {
        const list = await deliveriesOf(second, second.key, id);
        return list[0]?.status === 'delivered' ? list : undefined;
      });
      assert.deepEqual(d.attempts.map((a: any) => a.status_code), [500, 500, 200]);

      // Crash again after the 2xx: the next start must not send it again.
      await second.stop('SIGKILL');
      second = await startServer({ dataDir: first.dataDir, env });
      await sleep(2500);
      assert.equal(rx.at('/crash').length, 3);
      const [still] = await deliveriesOf(second, second.key, id);
      assert.equal(still.status, 'delivered');
    } finally {
      await second.dispose();
    }
  });
});
