// End to end: first start without any key, and the configurable input limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.js';
import { startImageServer } from '../support/image-server.js';
import { photo } from '../support/images.js';

test('first start with no key prints a key with every scope, which then works', async () => {
  const api = await startServer({ env: { ATELIER_API_KEY: '' } });
  try {
    const token = /^\s+(atl_\S+)$/m.exec(api.output())?.[1];
    assert.ok(token, `a key is printed:\n${api.output()}`);
    const res = await api.json('/v1/image/edit/async/1', undefined, { key: token });
    assert.equal(res.status, 404, 'authenticated (the task just does not exist)');
    const none = await api.json('/v1/image/edit/async/1', undefined, { key: 'atl_test_key_with_every_scope_0123456789abcdef' });
    assert.equal(none.status, 401, 'ATELIER_API_KEY unset: the test key is not valid');
  } finally {
    await api.dispose();
  }
});

test('inputs over the byte or pixel limits are refused with a clear 422', async () => {
  const origin = await startImageServer();
  origin.file('/photo.jpg', photo('building.jpg'), 'image/jpeg');
  const api = await startServer({ env: { ATELIER_MAX_INPUT_PIXELS: '100000', ATELIER_MAX_INPUT_BYTES: '60000' } });
  try {
    const res = await api.json('/v1/image/edit', { input: `${origin.url}/photo.jpg`, operations: {} });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_code, 'input_too_large');
    assert.match(res.body.error_message, /60000/);

    const form = new FormData();
    form.append('file', new Blob([photo('home.jpg')]), 'home.jpg');
    form.append('data', JSON.stringify({ operations: {} }));
    const up = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: form });
    const body = (await up.json()) as any;
    assert.equal(up.status, 422, JSON.stringify(body));
    assert.equal(body.error_code, 'input_resolution_too_large', 'home.jpg is 512x384 = 196608 px > 100000');
    assert.equal(body.error_type, 'image');
  } finally {
    await api.dispose();
    await origin.close();
  }
});

test('/metrics exposes request counters and task and sync-edit gauges', async () => {
  const api = await startServer();
  try {
    await api.json('/health');
    const res = await api.fetch('/metrics', { key: null });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^atelier_tasks_queued 0$/m);
    assert.match(text, /^atelier_tasks_running 0$/m);
    assert.match(text, /^atelier_sync_edits\{state="waiting"\} 0$/m);
    assert.match(text, /^atelier_http_requests_total\{method="GET",route="\/health",status="200"\} [1-9]\d*$/m);
  } finally {
    await api.dispose();
  }
});
