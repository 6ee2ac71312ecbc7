// End to end: the task life cycle beyond the reference — cancel, Idempotency-Key, and the bound on queued tasks —
// against the real server process, with one worker so that tasks can be held ACCEPTED behind a slow input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { join } from 'node:path';
import { createKey } from '../support/cli.js';
import { openDatabase } from '../../src/db/sqlite.js';
import { KeyStore } from '../../src/accounts/keys.js';
import { photo } from '../support/images.js';

const noLimits = { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' };
const MAX_QUEUED = 3;

let origin: ImageServer;
let api: RunningServer;

/** An input URL whose answer the test releases; records when the server gives up on it (connection closed). */
interface Gate {
  url: string;
  /** Resolves when the server has asked for the input. */
  requested: Promise<void>;
  /** performance.now() when the server closed the request before an answer, or 0. */
  closedAt(): number;
  release(): void;
}

let gates = 0;
function gate(): Gate {
  const path = `/gate-${++gates}.jpg`;
  const pending: ServerResponse[] = [];
  let released = false;
  let closedAt = 0;
  let requested: () => void = () => {};
  const requestedP = new Promise<void>((resolve) => (requested = resolve));
  const body = photo('home.jpg');
  const answer = (res: ServerResponse) => {
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'image/jpeg' }).end(body);
  };
  origin.route(path, (req, res) => {
    requested();
    res.once('close', () => {
      if (!res.writableFinished && closedAt === 0) closedAt = performance.now();
    });
    if (released) answer(res);
    else pending.push(res);
  });
  return {
    url: `${origin.url}${path}`,
    requested: requestedP,
    closedAt: () => closedAt,
    release() {
      released = true;
      for (const res of pending.splice(0)) answer(res);
    },
  };
}

async function waitForStatus(id: number, statuses: string[], key?: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.json(`/v1/image/edit/async/${id}`, undefined, { key });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (statuses.includes(res.body.data.status)) return res.body.data;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${res.body.data.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const submit = (input: string, width = 64, init: { key?: string; headers?: Record<string, string> } = {}) =>
  api.json('/v1/image/edit/async', { input, operations: { resizing: { width } } }, init);

const cancel = (id: number, key?: string) => api.json(`/v1/image/edit/async/${id}/cancel`, undefined, { method: 'POST', key });

/** A key's balance, read from the server's store the way the CLI reads it (the CLI itself takes a second). */
async function credits(id: string): Promise<number | null> {
  const db = openDatabase(join(api.dataDir, 'atelier.db'));
  try {
    const key = new KeyStore(db).get(id);
    assert.ok(key, `key ${id} exists`);
    return key.credits;
  } finally {
    db.close();
  }
}

/** Occupies the only worker with a task whose input hangs until released; returns it once PROCESSING. */
async function busyWorker(key?: string): Promise<{ id: number; gate: Gate }> {
  const g = gate();
  const res = await submit(g.url, 32, { key });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await g.requested;
  await waitForStatus(res.body.data.id, ['PROCESSING'], key);
  return { id: res.body.data.id, gate: g };
}

before(async () => {
  origin = await startImageServer();
  origin.file('/photo.jpg', photo('fruits.jpg'), 'image/jpeg');
  api = await startServer({
    env: { ...noLimits, ATELIER_WORKERS: '1', ATELIER_MAX_QUEUED_TASKS: String(MAX_QUEUED) },
  });
});

after(async () => {
  await api?.dispose();
  await origin?.close();
});

describe('cancel', () => {
  test('an ACCEPTED task is cancelled and never runs; a PROCESSING one is aborted at once', async () => {
    const busy = await busyWorker();
    const never = `${origin.url}/never-fetched.jpg`;
    const queued = await submit(never);
    assert.equal(queued.body.data.status, 'ACCEPTED');

    const res = await cancel(queued.body.data.id);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      [res.body.data.id, res.body.data.status, res.body.data.result, res.body.data.errors],
      [queued.body.data.id, 'CANCELLED', {}, []],
    );
    assert.deepEqual(res.body.data.request, { input: never, operations: { resizing: { width: 64 } } });
    assert.equal(res.body.data.created_at, queued.body.data.created_at);

    // The PROCESSING task: its input fetch is cut off as soon as the cancel is answered.
    const sentAt = performance.now();
    const aborted = await cancel(busy.id);
    assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
    assert.equal(aborted.body.data.status, 'CANCELLED');
    const deadline = Date.now() + 2_000;
    while (busy.gate.closedAt() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(busy.gate.closedAt() > 0, 'the server dropped the input request');
    assert.ok(busy.gate.closedAt() - sentAt < 1_000, `input dropped ${Math.round(busy.gate.closedAt() - sentAt)} ms after cancel`);
    busy.gate.release();

    // The worker is free again and runs the next task; the cancelled ones stay cancelled and empty.
    const next = await submit(`${origin.url}/photo.jpg`, 48);
    const done = await waitForStatus(next.body.data.id, ['DONE', 'ERROR']);
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.equal(done.result.output_object.width, 48);
    const output = await sharp(Buffer.from(await (await fetch(done.result.output_object.tmp_url)).arrayBuffer())).metadata();
    assert.equal(output.width, 48);
    for (const id of [queued.body.data.id, busy.id]) {
      const task = await waitForStatus(id, ['CANCELLED']);
      assert.deepEqual([task.result, task.errors], [{}, []]);
    }
    assert.equal(origin.hits('/never-fetched.jpg'), 0, 'a cancelled ACCEPTED task is never claimed');
  });

  test('a finished task cannot be cancelled (409); a cancelled one can, again (200); others see 404', async () => {
    const finished = await submit(`${origin.url}/photo.jpg`, 40);
    await waitForStatus(finished.body.data.id, ['DONE']);
    const late = await cancel(finished.body.data.id);
    assert.equal(late.status, 409);
    assert.deepEqual(
      [late.body.error_type, late.body.error_code, late.body.error_details],
      ['general', 'task_already_finished', { task_id: finished.body.data.id, status: 'DONE' }],
    );
    assert.equal(typeof late.body.error_message, 'string');
    assert.equal((await waitForStatus(finished.body.data.id, ['DONE'])).result.output_object.width, 40);

    const broken = await submit(`${origin.url}/missing.jpg`);
    await waitForStatus(broken.body.data.id, ['ERROR']);
    assert.equal((await cancel(broken.body.data.id)).body.error_code, 'task_already_finished');

    const busy = await busyWorker();
    const queued = await submit(`${origin.url}/photo.jpg`);
    const first = await cancel(queued.body.data.id);
    const second = await cancel(queued.body.data.id);
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, first.body);

    const other = await createKey(api.dataDir, 'image_editing');
    const foreign = await cancel(busy.id, other.token);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error_code, 'task_not_found');
    assert.equal((await cancel(987_654)).status, 404);
    assert.equal((await api.json(`/v1/image/edit/async/${busy.id}`)).body.data.status, 'PROCESSING', 'untouched by the 404');
    const noScope = await createKey(api.dataDir, 'storage');
    assert.equal((await cancel(busy.id, noScope.token)).status, 403);

    await cancel(busy.id);
    busy.gate.release();
  });

  test('a cancelled task costs nothing: credits reserved at submission come back', async () => {
    const payer = await createKey(api.dataDir, 'image_editing', 2);
    const busy = await busyWorker(payer.token);
    const queued = await submit(`${origin.url}/photo.jpg`, 64, { key: payer.token });
    assert.equal(queued.status, 200);
    assert.equal(await credits(payer.id), 0);
    const broke = await submit(`${origin.url}/photo.jpg`, 64, { key: payer.token });
    assert.equal(broke.status, 402);

    assert.equal((await cancel(queued.body.data.id, payer.token)).status, 200);
    assert.equal((await cancel(busy.id, payer.token)).status, 200);
    busy.gate.release();
    assert.equal(await credits(payer.id), 2);
    // Cancelling again refunds nothing more.
    await cancel(busy.id, payer.token);
    assert.equal(await credits(payer.id), 2);
  });
});

describe('back-pressure', () => {
  test(`past ${MAX_QUEUED} waiting tasks, submissions get 429 queue_full with retry-after and cost nothing`, async () => {
    const payer = await createKey(api.dataDir, 'image_editing', 10);
    const busy = await busyWorker(payer.token);
    const waiting: number[] = [];
    for (let i = 0; i < MAX_QUEUED; i++) {
      const res = await submit(`${origin.url}/photo.jpg`, 20 + i, { key: payer.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      waiting.push(res.body.data.id);
    }
    assert.equal(await credits(payer.id), 10 - 1 - MAX_QUEUED);

    const refused = await submit(`${origin.url}/photo.jpg`, 99, { key: payer.token });
    assert.equal(refused.status, 429);
    assert.deepEqual([refused.body.error_type, refused.body.error_code], ['general', 'queue_full']);
    assert.match(refused.body.error_message, /queue is full/);
    assert.equal(refused.body.error_details.max_queued_tasks, MAX_QUEUED);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `retry-after ${refused.headers.get('retry-after')}`);
    assert.equal(await credits(payer.id), 10 - 1 - MAX_QUEUED, 'the refused submission was not charged');

    // The sync edit does not queue tasks and is not refused.
    const sync = await api.json('/v1/image/edit', { input: `${origin.url}/photo.jpg`, operations: { resizing: { width: 30 } } });
    assert.equal(sync.status, 200);

    // A place frees up when a waiting task is cancelled (or claimed).
    await cancel(waiting[0]!, payer.token);
    const accepted = await submit(`${origin.url}/photo.jpg`, 77, { key: payer.token });
    assert.equal(accepted.status, 200);
    waiting.push(accepted.body.data.id);

    busy.gate.release();
    for (const id of waiting.slice(1)) assert.equal((await waitForStatus(id, ['DONE', 'ERROR'], payer.token)).status, 'DONE');
    assert.equal(await credits(payer.id), 10 - 1 - MAX_QUEUED, 'four images produced, the cancelled one refunded');
  });
});

describe('Idempotency-Key', () => {
  test('async edit: the same key and body replay the first answer and create one task; another body is a 409', async () => {
    const payer = await createKey(api.dataDir, 'image_editing', 5);
    const request = { input: `${origin.url}/photo.jpg`, operations: { resizing: { width: 33 } } };
    const post = (body: unknown, key = 'order-1138') =>
      api.fetch('/v1/image/edit/async', {
        method: 'POST',
        key: payer.token,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
    const first = await post(request);
    const firstText = await first.text();
    assert.equal(first.status, 200, firstText);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const task = JSON.parse(firstText).data;
    await waitForStatus(task.id, ['DONE'], payer.token);

    const again = await post(request);
    assert.equal(again.status, 200);
    assert.equal(await again.text(), firstText, 'the identical first answer, ACCEPTED and all');
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.match(again.headers.get('content-type') ?? '', /^application\/json/);
    assert.notEqual(again.headers.get('x-request-id'), first.headers.get('x-request-id'));
    assert.equal(await credits(payer.id), 4, 'charged once');

    const changed = await post({ ...request, operations: { resizing: { width: 34 } } });
    assert.equal(changed.status, 409);
    const conflict = (await changed.json()) as any;
    assert.deepEqual([conflict.error_type, conflict.error_code], ['general', 'idempotency_key_reused']);

    // No task was created by the replay or the conflict: the next one takes the very next id.
    const fresh = await submit(`${origin.url}/photo.jpg`, 35, { key: payer.token });
    assert.equal(fresh.body.data.id, task.id + 1);
    assert.equal(await credits(payer.id), 3);
  });

  test('sync edit and upload replay their answers without editing again', async () => {
    origin.file('/sync-once.jpg', photo('messi5.jpg'), 'image/jpeg');
    const body = JSON.stringify({ input: `${origin.url}/sync-once.jpg`, operations: { resizing: { width: 100 } } });
    const send = () =>
      api.fetch('/v1/image/edit', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'sync-1' }, body });
    const first = await send();
    const firstText = await first.text();
    assert.equal(first.status, 200, firstText);
    const again = await send();
    assert.equal(await again.text(), firstText);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(origin.hits('/sync-once.jpg'), 1, 'the input was fetched once');
    const url = JSON.parse(firstText).data.output.tmp_url as string;
    assert.equal((await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).metadata()).width, 100);

    const upload = (file: Buffer, width: number) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(file)], { type: 'image/jpeg' }), 'baboon.jpg');
      form.append('data', JSON.stringify({ operations: { resizing: { width } } }));
      return api.fetch('/v1/image/edit/upload', { method: 'POST', headers: { 'idempotency-key': 'upload-1' }, body: form });
    };
    const image = photo('baboon.jpg');
    const up1 = await upload(image, 64);
    const up1Text = await up1.text();
    assert.equal(up1.status, 200, up1Text);
    const up2 = await upload(image, 64); // a new multipart boundary, same content
    assert.deepEqual([up2.status, await up2.text(), up2.headers.get('idempotent-replayed')], [200, up1Text, 'true']);
    const up3 = await upload(image, 65);
    assert.equal(up3.status, 409);
    assert.equal(((await up3.json()) as any).error_code, 'idempotency_key_reused');
  });

  test('a malformed key is refused with 422 before anything is created', async () => {
    const res = await submit(`${origin.url}/photo.jpg`, 10, { headers: { 'idempotency-key': 'k'.repeat(256) } });
    assert.equal(res.status, 422);
    assert.deepEqual([res.body.error_type, res.body.error_code], ['validation', 'invalid_idempotency_key']);
    assert.deepEqual(res.body.error_details.errors[0].loc, ['header', 'Idempotency-Key']);
  });
});
