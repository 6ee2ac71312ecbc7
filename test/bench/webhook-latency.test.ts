// The async-task benchmark's latency arithmetic: receipts paired with their deliveries' creation times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webhookLatencies, type Receipt } from '../../bench/lib/webhook-latency.js';

const at = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '+00:00');
const T0 = Date.UTC(2026, 0, 1);

test('latency is receipt minus the delivery creation; the first receipt per task counts', () => {
  const deliveries = [
    { id: 11, task_id: 1, created_at: at(T0 + 100) },
    { id: 12, task_id: 2, created_at: at(T0 + 105) },
    { id: 13, task_id: 3, created_at: at(T0 + 300) },
  ];
  const receipts: Receipt[] = [
    { deliveryId: 12, attempt: 1, taskId: 2, status: 'DONE', receivedAt: T0 + 107.5 },
    { deliveryId: 11, attempt: 1, taskId: 1, status: 'DONE', receivedAt: T0 + 103 },
    { deliveryId: 13, attempt: 2, taskId: 3, status: 'DONE', receivedAt: T0 + 3320 },
    { deliveryId: 13, attempt: 1, taskId: 3, status: 'DONE', receivedAt: T0 + 320 },
    { deliveryId: 99, attempt: 1, taskId: 9, status: 'DONE', receivedAt: T0 + 1 },
  ];
  const report = webhookLatencies(receipts, deliveries);
  assert.deepEqual(report.latencies, [3, 2.5, 20]);
  assert.equal(report.duplicates, 1);
  assert.equal(report.unmatched, 1);
  assert.equal(report.firstCompletion, T0 + 100);
  assert.equal(report.lastCompletion, T0 + 300);
});

test('no receipts: no latencies and no completion window', () => {
  const report = webhookLatencies([], [{ id: 1, task_id: 1, created_at: at(T0) }]);
  assert.deepEqual(report.latencies, []);
  assert.equal(report.lastCompletion, -Infinity);
});
