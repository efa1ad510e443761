import { InvalidRequest } from '../errors';

/** Idempotency keys: UUIDs or similar opaque tokens; bounded so they cannot bloat Redis. Shared with the OpenAPI document. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

/** The key, undefined when none was sent, or InvalidRequest when it is malformed. */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(value))
    throw new InvalidRequest('Idempotency-Key must be 8-128 letters, digits or . _ : -', [
      { pointer: '/headers/Idempotency-Key', detail: `must match ${IDEMPOTENCY_KEY_PATTERN.source}` },
    ]);
  return value;
}
