import express, { type RequestHandler } from 'express';
import { UnsupportedMediaType } from '../errors';

/**
 * JSON bodies only, kept as the bytes received (they are forwarded to iCG as they are): 415 for
 * another type, 413 past the limit (mapped in problem.ts). Compressed bodies are refused: a small
 * gzip can expand past any limit. The JSON itself is checked by the pay use case's parser.
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const charsets = [...(req.headers['content-type'] ?? '').matchAll(/;\s*charset\s*=\s*"?([^";\s]*)/gi)].map((match) => match[1]?.toLowerCase());
    // JSON is UTF-8 (RFC 8259): a body declared in another charset would be read one way here and maybe another by iCG.
    const isJson = req.is('application/json') && charsets.every((charset) => charset === 'utf-8' || charset === 'utf8');
    next(isJson ? undefined : new UnsupportedMediaType('Send the payment as Content-Type: application/json (UTF-8)'));
  };
  const read = express.raw({ limit: limitBytes, inflate: false, type: () => true });
  return [requireJson, read];
}

/** The body bytes express.raw left on the request (an empty buffer when there were none). */
export function bodyBytes(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}
