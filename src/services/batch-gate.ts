// How many batch items run at once in this process. A batch holds one worker slot of the task queue but runs
// its images in parallel; the gate sizes that parallelism to the slots the queue's other tasks leave free, so
// that images in flight (batch items plus other tasks) stay near the worker limit:
// - alone, a batch uses every worker slot (`ATELIER_WORKERS` images at once);
// - as other tasks start, batch items stop being started until the total is back at the limit (running items
//   finish; none is interrupted), and the other tasks get their slots from the queue as usual;
// - at least one batch item may always run, so a busy server slows a batch down without stopping it.
// All batches share the gate, first come first served, so several batches split the free slots between them
// instead of each taking the whole limit.

/** A held slot; call it once the item is finished. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release | undefined) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class ItemGate {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param capacity slots batch items may use now; read at every decision (it moves as other tasks start and
   *   end). Values below 1 count as 1.
   * @param recheckMs while items wait, how often the capacity is read again: other tasks end without telling
   *   the gate.
   */
  constructor(
    private readonly capacity: () => number,
    private readonly recheckMs = 100,
  ) {}

  get running(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves with a slot, or with undefined once `signal` aborts (the caller then starts nothing). */
  acquire(signal: AbortSignal): Promise<Release | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    if (this.waiters.length === 0 && this.inUse < this.limit()) return Promise.resolve(this.take());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) this.waiters.splice(at, 1);
          this.idleCheck();
          resolve(undefined);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      if (!this.timer) {
        this.timer = setInterval(() => this.pump(), this.recheckMs);
        this.timer.unref();
      }
    });
  }

  private limit(): number {
    return Math.max(1, Math.floor(this.capacity()));
  }

  private take(): Release {
    this.inUse += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= 1;
      this.pump();
    };
  }

  private pump(): void {
    while (this.waiters.length > 0 && this.inUse < this.limit()) {
      const waiter = this.waiters.shift()!;
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.grant(this.take());
    }
    this.idleCheck();
  }

  private idleCheck(): void {
    if (this.waiters.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
