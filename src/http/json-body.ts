import { isUtf8 } from 'node:buffer';
import express, { type RequestHandler } from 'express';
import { UnsupportedMediaType } from '../errors';

/**
 * JSON bodies only: 415 for another type, 413 past the limit, 400 for malformed JSON (mapped in
 * problem.ts). Compressed bodies are refused (a small gzip can expand past any limit), and bytes that
 * are not UTF-8 are refused rather than forwarded with replacement characters.
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    next(req.is('application/json') ? undefined : new UnsupportedMediaType('Send the payment as Content-Type: application/json'));
  };
  const parse = express.json({
    limit: limitBytes,
    strict: false,
    inflate: false,
    type: () => true,
    verify: (_req, _res, bytes) => {
      if (!isUtf8(bytes)) throw new Error('body is not UTF-8');
    },
  });
  return [requireJson, parse];
}
