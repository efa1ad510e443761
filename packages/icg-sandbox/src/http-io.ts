import type { IncomingMessage, ServerResponse } from 'node:http';

/** The largest request body the sandbox reads (iCG's real limit is unknown; this keeps a fake cheap to abuse). */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** A request body as read: its text, or the fact that it went over the limit (answer 413). */
export type BodyResult = { readonly kind: 'ok'; readonly text: string } | { readonly kind: 'too_large' };

/**
 * Reads the whole body as UTF-8, stopping at `limit` bytes. An oversized body is still drained (not
 * buffered) so the 413 reaches the client instead of a reset; a connection that dies mid-body rejects.
 */
export function readBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > limit) {
      req.resume();
      resolve({ kind: 'too_large' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        resolve({ kind: 'too_large' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve({ kind: 'ok', text: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request closed before its body ended'));
    });
  });
}

/** The parsed JSON of a body, or a failure the caller turns into its own 400 shape. */
export type JsonResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

/** JSON.parse without throwing, so each endpoint can answer malformed JSON in its own dialect. */
export function parseJson(text: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The request's media type, lower-cased and without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Answers JSON with an exact Content-Length, so keep-alive clients never wait for a close. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}
