// Credits are reserved before work starts and refunded when it fails or is cancelled, so a key is charged
// only for images it received and concurrent requests cannot overdraw it.
import { AtelierError } from '../errors.js';
import type { KeyStore } from '../accounts/keys.js';

export class Billing {
  constructor(private readonly keys: KeyStore) {}

  reserve(keyId: string, cost: number): void {
    if (!this.keys.reserveCredits(keyId, cost)) {
      throw new AtelierError(402, 'billing', 'no_api_calls_left', 'No API calls left.', { required_credits: cost });
    }
  }

  refund(keyId: string, cost: number): void {
    this.keys.refundCredits(keyId, cost);
  }

  /** Runs `fn` with `cost` reserved; refunds if it throws. */
  async charge<T>(keyId: string, cost: number, fn: () => Promise<T>): Promise<T> {
    this.reserve(keyId, cost);
    try {
      return await fn();
    } catch (err) {
      this.refund(keyId, cost);
      throw err;
    }
  }
}
