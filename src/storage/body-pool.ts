// Reusable buffers for fetched input bodies. Every megabyte a request allocates outside V8's heap counts
// towards V8's external-memory budget, and crossing it starts a full mark-compact: with a fresh 3.6 MB buffer
// per 12 MP input the server ran one mark-compact every 5 requests, about 9 ms of CPU per image (measured with
// --trace-gc under the sync-edit benchmark). Bodies borrowed from here and given back when the request is done
// add nothing to that budget after the first few requests.
//
// Slabs come in power-of-two size classes (a body of n bytes borrows a slab of the next power of two, at least
// `minBytes`); smaller bodies are not worth pooling and get a plain buffer. At most `maxPooledBytes` wait idle
// in the pool, and everything idle is dropped after `idleMs` without a borrow, so a burst does not keep its
// memory for ever.

export interface BorrowedBuffer {
  /** Exactly the requested length; a view of the slab. */
  readonly data: Buffer;
  /** Gives the slab back. Idempotent; `data` must not be read or written afterwards. */
  release(): void;
}

export interface BodyPoolOptions {
  /** Bodies smaller than this are plain allocations (default 256 KiB). */
  minBytes?: number;
  /** Most bytes kept idle in the pool (default 64 MiB). */
  maxPooledBytes?: number;
  /** Idle slabs are dropped after this long without a borrow or a release (default 30 s). */
  idleMs?: number;
}

/** The slab size a body of `size` bytes borrows: the next power of two, at least `min`. */
export function slabSizeFor(size: number, min: number): number {
  let slab = min;
  while (slab < size) slab *= 2;
  return slab;
}

export class BodyPool {
  private readonly minBytes: number;
  private readonly maxPooledBytes: number;
  private readonly idleMs: number;
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(opts: BodyPoolOptions = {}) {
    this.minBytes = opts.minBytes ?? 256 * 1024;
    this.maxPooledBytes = opts.maxPooledBytes ?? 64 * 1024 * 1024;
    this.idleMs = opts.idleMs ?? 30_000;
  }

  /** Bytes now waiting idle in the pool. */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  borrow(size: number): BorrowedBuffer {
    if (size < this.minBytes) return { data: Buffer.allocUnsafe(size), release: () => {} };
    const slabSize = slabSizeFor(size, this.minBytes);
    const list = this.free.get(slabSize);
    let slab = list?.pop();
    if (slab) this.pooledBytes -= slab.length;
    else slab = Buffer.allocUnsafeSlow(slabSize);
    this.scheduleTrim();
    let released = false;
    const owned = slab;
    return {
      data: owned.subarray(0, size),
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(owned);
      },
    };
  }

  /** Drops every idle slab. */
  trim(): void {
    this.free.clear();
    this.pooledBytes = 0;
    if (this.trimTimer) clearTimeout(this.trimTimer);
    this.trimTimer = undefined;
  }

  private giveBack(slab: Buffer): void {
    if (this.pooledBytes + slab.length > this.maxPooledBytes) return;
    let list = this.free.get(slab.length);
    if (!list) this.free.set(slab.length, (list = []));
    list.push(slab);
    this.pooledBytes += slab.length;
    this.scheduleTrim();
  }

  private scheduleTrim(): void {
    if (this.trimTimer) this.trimTimer.refresh();
    else {
      this.trimTimer = setTimeout(() => this.trim(), this.idleMs);
      this.trimTimer.unref();
    }
  }
}
