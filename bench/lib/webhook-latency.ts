// Webhook delivery latency: from the moment a task finished (the server records its webhook delivery in the same
// tick it commits the task's end, so the delivery's `created_at` is the completion time) to the moment the
// bench's receiver read the notification. Pure functions, so the matching rules are tested apart from timing.

/** One notification as the receiver got it. */
export interface Receipt {
  /** `x-atelier-delivery`. */
  deliveryId: number;
  /** `x-atelier-attempt`: 1 unless the first attempt failed. */
  attempt: number;
  taskId: number;
  status: string;
  /** Epoch milliseconds (fractional) when the body had been read. */
  receivedAt: number;
}

/** A delivery as GET /v1/webhook/deliveries lists it (the fields used here). */
export interface DeliveryRecord {
  id: number;
  task_id: number;
  created_at: string;
}

export interface LatencyReport {
  /** Milliseconds from completion to receipt, one per task, in task id order. */
  latencies: number[];
  /** Tasks notified more than once (a retry after a lost answer, or a duplicate). */
  duplicates: number;
  /** Receipts whose delivery the server did not list. */
  unmatched: number;
  /** Latest completion time (epoch ms) among the matched tasks. */
  lastCompletion: number;
  firstCompletion: number;
}

/**
 * Pairs every task's first receipt with its delivery's creation time. Only the first receipt per task counts:
 * a second one is a retry whose latency says more about the retry schedule than about delivery.
 */
export function webhookLatencies(receipts: readonly Receipt[], deliveries: readonly DeliveryRecord[]): LatencyReport {
  const createdAt = new Map(deliveries.map((d) => [d.id, Date.parse(d.created_at)]));
  const first = new Map<number, Receipt>();
  let duplicates = 0;
  let unmatched = 0;
  for (const r of receipts) {
    if (!createdAt.has(r.deliveryId)) {
      unmatched += 1;
      continue;
    }
    const seen = first.get(r.taskId);
    if (seen) {
      duplicates += 1;
      if (r.receivedAt < seen.receivedAt) first.set(r.taskId, r);
    } else first.set(r.taskId, r);
  }
  const latencies: number[] = [];
  let lastCompletion = -Infinity;
  let firstCompletion = Infinity;
  for (const taskId of [...first.keys()].sort((a, b) => a - b)) {
    const r = first.get(taskId)!;
    const done = createdAt.get(r.deliveryId)!;
    lastCompletion = Math.max(lastCompletion, done);
    firstCompletion = Math.min(firstCompletion, done);
    latencies.push(r.receivedAt - done);
  }
  return { latencies, duplicates, unmatched, lastCompletion, firstCompletion };
}
