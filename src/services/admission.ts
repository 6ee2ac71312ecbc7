// Bounds how many synchronous edits run at once and how many may wait, so a burst queues briefly instead
// of multiplying memory, and a flood is answered 429 instead of growing without limit.
import { AtelierError } from '../errors.js';

export class Admission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) {
        throw new AtelierError(429, 'general', 'server_busy', 'The server is busy: too many edits are in progress. Retry shortly.', {
          in_progress: this.running,
          waiting: this.waiting.length,
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; the running count only drops when nobody waits.
      if (next) next();
      else this.running -= 1;
    }
  }

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
