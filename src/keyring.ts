import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Secret } from './secret';

/** A keyed digest and the id of the key that made it. */
export interface KeyedDigest {
  readonly kid: string;
  readonly mac: string;
}

interface Key {
  readonly id: string;
  readonly secret: Buffer;
}

/**
 * The HMAC keys that make request fingerprints (and the credentials fingerprint) unreadable to
 * whoever reads Redis: a card number inside a fingerprinted body cannot be recovered without the key,
 * which lives only in the service's configuration. The first key signs; every listed key verifies,
 * so a key stays listed for a record's lifetime after it is rotated out.
 */
export class Keyring {
  readonly #keys: readonly Key[];

  private constructor(keys: readonly Key[]) {
    const first = keys[0];
    if (!first) throw new Error('a keyring needs at least one key');
    this.#keys = keys;
  }

  /** From FINGERPRINT_KEYS (already validated: `[{id, secret(base64)}]` as a Secret), or the file FINGERPRINT_KEYS_FILE names. */
  static fromSetting(value: Secret | undefined, file: string | undefined): Keyring | null {
    let text: string | undefined = value?.reveal();
    if (file !== undefined) text = readFileSync(file, 'utf8').trim();
    if (text === undefined) return null;
    return new Keyring(parseKeys(text));
  }

  /**
   * A key for development and tests only, the same in every process so several local instances agree.
   * It is public (it is in this file), so it protects nothing: production requires FINGERPRINT_KEYS.
   */
  static development(): Keyring {
    return new Keyring([{ id: 'dev', secret: createHash('sha256').update('icg-bff development fingerprint key (public, protects nothing)').digest() }]);
  }

  get currentId(): string {
    return this.#keys[0]?.id ?? '';
  }

  /** The digest of `parts` under the current key. */
  sign(...parts: readonly (string | Buffer)[]): KeyedDigest {
    const key = this.#keys[0] as Key;
    return { kid: key.id, mac: mac(key, parts) };
  }

  /** True when `digest` is the digest of `parts` under the key it names (false for an unknown key). */
  verify(digest: KeyedDigest, ...parts: readonly (string | Buffer)[]): boolean {
    const key = this.#keys.find((candidate) => candidate.id === digest.kid);
    if (!key) return false;
    const expected = Buffer.from(mac(key, parts), 'hex');
    const given = Buffer.from(digest.mac, 'hex');
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

function mac(key: Key, parts: readonly (string | Buffer)[]): string {
  const hmac = createHmac('sha256', key.secret);
  for (const part of parts) {
    // Each part is length-prefixed, so ("ab", "c") and ("a", "bc") never collide.
    const bytes = typeof part === 'string' ? Buffer.from(part) : part;
    hmac.update(`${bytes.length}:`).update(bytes);
  }
  return hmac.digest('hex');
}

/** `[{"id","secret"}]` JSON (what the config stores) or `id:base64[,id:base64…]` (a keys file). */
function parseKeys(text: string): Key[] {
  if (text.startsWith('[')) {
    return (JSON.parse(text) as { id: string; secret: string }[]).map((key) => ({ id: key.id, secret: Buffer.from(key.secret, 'base64') }));
  }
  const keys = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [id = '', secret = ''] = entry.split(':', 2);
      return { id, secret: Buffer.from(secret, 'base64') };
    });
  if (keys.length === 0 || keys.some((key) => !/^[A-Za-z0-9_-]{1,32}$/.test(key.id) || key.secret.length < 32)) {
    throw new Error('FINGERPRINT_KEYS_FILE: must hold id:base64secret entries (secrets of at least 32 bytes)');
  }
  return keys;
}
