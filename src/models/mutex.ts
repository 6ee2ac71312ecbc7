// A per-model queue. Inference on CPU already uses every core, so two runs of the same model at once only
// double the activation memory and make both slower; queueing them keeps peak memory at one run per model.

export interface Mutex {
  /** Runs `fn` after every previously queued call has settled; rejections do not block the queue. */
  run<R>(fn: () => Promise<R>): Promise<R>;
  /** Calls waiting or running now. */
  readonly pending: number;
}

export function createMutex(): Mutex {
  let tail: Promise<unknown> = Promise.resolve();
  let pending = 0;
  return {
    run<R>(fn: () => Promise<R>): Promise<R> {
      pending++;
      const result = tail.then(fn);
      // The next caller waits for this one to settle either way.
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result.finally(() => {
        pending--;
      });
    },
    get pending() {
      return pending;
    },
  };
}

/** Wraps `fn` so that calls to the returned function run one at a time, in call order. */
export function serialised<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const mutex = createMutex();
  return (...args: A) => mutex.run(() => fn(...args));
}
