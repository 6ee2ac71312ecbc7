// Storage credentials at rest. Secret access keys are sealed with AES-256-GCM under a key that never enters
// the database: ATELIER_SECRET_KEY when set, otherwise one derived from the installation secret file that
// sits beside the database. A copy of the .db file alone therefore reveals no secret.
//
// Sealed form: `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url parts). The key id is a short digest of the
// key, so a value sealed under another key is recognised as such and reported clearly instead of as
// corruption. The owner of the storage is bound in as associated data: a sealed secret copied into another
// owner's row does not open.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** ATELIER_SECRET_KEY shorter than this is refused at start-up: it would be guessable. */
export const MIN_SECRET_KEY_LENGTH = 16;

export type UnsealFailure = 'other_key' | 'corrupt';

export class UnsealError extends Error {
  constructor(
    readonly reason: UnsealFailure,
    message: string,
  ) {
    super(message);
    this.name = 'UnsealError';
  }
}

export class SecretBox {
  /** Short public digest of the key: tells which key sealed a value, reveals nothing about it. */
  readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  }

  /**
   * A box whose key is derived from `material` with HKDF-SHA256. The derivation is salted per purpose, so
   * the same installation secret used elsewhere (tmp tokens) yields an unrelated key here.
   */
  static fromMaterial(material: string, purpose = 'storage-credentials'): SecretBox {
    if (material.length === 0) throw new Error('SecretBox: empty key material');
    const key = Buffer.from(hkdfSync('sha256', material, `atelier/${purpose}`, 'aes-256-gcm/v1', 32));
    return new SecretBox(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
    return [VERSION, this.keyId, ...parts].join('.');
  }

  /** Opens a sealed value; throws UnsealError saying whether another key sealed it or it is damaged. */
  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new UnsealError('corrupt', 'unrecognised sealed value');
    const [, keyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
    if (keyId !== this.keyId) {
      throw new UnsealError('other_key', 'the value was sealed with another key');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new UnsealError('corrupt', 'the sealed value failed authentication');
    }
  }
}

/**
 * The box for storage credentials: from ATELIER_SECRET_KEY when given (checked for length), otherwise from
 * the installation secret (read lazily, only then).
 */
export function storageSecretBox(secretKey: string | undefined, installationSecret: () => string): SecretBox {
  if (secretKey !== undefined && secretKey !== '') {
    if (secretKey.length < MIN_SECRET_KEY_LENGTH) {
      throw new Error(
        `ATELIER_SECRET_KEY must be at least ${MIN_SECRET_KEY_LENGTH} characters (use e.g. \`openssl rand -hex 32\`).`,
      );
    }
    return SecretBox.fromMaterial(secretKey);
  }
  return SecretBox.fromMaterial(installationSecret());
}
