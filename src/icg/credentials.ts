import { readFileSync } from 'node:fs';
import type { CredentialSource } from '../config';
import { Secret } from '../secret';

/** The merchant's iCG credentials, as one login uses them. */
export interface Credentials {
  readonly clientId: Secret;
  readonly username: Secret;
  readonly password: Secret;
}

/** A credential file that cannot be read or is empty; names the file, never its content. */
export class CredentialsUnreadable extends Error {
  constructor(name: string, file: string) {
    super(`${name}: cannot read ${file} (or it is empty)`);
    this.name = 'CredentialsUnreadable';
  }
}

function read(name: string, source: CredentialSource): Secret {
  if ('value' in source) return source.value;
  let text: string;
  try {
    text = readFileSync(source.file, 'utf8').trim();
  } catch {
    throw new CredentialsUnreadable(name, source.file);
  }
  if (text === '') throw new CredentialsUnreadable(name, source.file);
  return new Secret(text);
}

/**
 * The credentials outside the frozen config: read from the environment, or from files (the `_FILE`
 * convention of Docker and Kubernetes secrets) that are read again on reload(): on SIGHUP, and when
 * iCG rejects a login. The next login uses what was read last; a token already held serves on.
 */
export class CredentialsProvider {
  #current: Credentials;

  /** Reads every source now: a file that cannot be read stops the start (CredentialsUnreadable). */
  constructor(private readonly sources: { readonly clientId: CredentialSource; readonly username: CredentialSource; readonly password: CredentialSource }) {
    this.#current = this.#readAll();
  }

  get current(): Credentials {
    return this.#current;
  }

  /** Reads the files again. True when the credentials changed; a file that cannot be read keeps the last ones (and throws). */
  reload(): boolean {
    const next = this.#readAll();
    const changed = !(
      next.clientId.equals(this.#current.clientId) &&
      next.username.equals(this.#current.username) &&
      next.password.equals(this.#current.password)
    );
    this.#current = next;
    return changed;
  }

  #readAll(): Credentials {
    return {
      clientId: read('ICG_CLIENT_ID_FILE', this.sources.clientId),
      username: read('ICG_USERNAME_FILE', this.sources.username),
      password: read('ICG_PASSWORD_FILE', this.sources.password),
    };
  }
}
