import { Secret } from '../secret';

/**
 * An iCG access token. A Secret subclass so it prints as "[redacted]" anywhere, and a distinct type
 * so a token can never be passed where a password is expected or logged as a bare string.
 */
export class AccessToken extends Secret {
  /** The Authorization header value for iCG. */
  authorization(): string {
    return `Bearer ${this.reveal()}`;
  }
}
