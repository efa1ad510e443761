import { randomUUID } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TYPE_BASE } from './problem';

interface RawProblem {
  readonly status: number;
  readonly reason: string;
  readonly slug: string;
  readonly title: string;
  readonly detail: string;
}

const MALFORMED: RawProblem = { status: 400, reason: 'Bad Request', slug: 'invalid-request', title: 'The request is invalid', detail: 'The request is not valid HTTP/1.1' };
/** Node's HTTP parser errors that have an answer of their own; every other one is a 400. */
const BY_CODE: Readonly<Record<string, RawProblem>> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', slug: 'headers-too-large', title: 'The request headers are too large', detail: 'Send fewer or smaller headers (16 KiB in all at most)' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', slug: 'request-timeout', title: 'The request did not arrive in time', detail: 'Headers must arrive within 10 s and the whole request within 15 s' },
};
const CONNECT: RawProblem = { status: 405, reason: 'Method Not Allowed', slug: 'method-not-allowed', title: 'Method not allowed', detail: 'This service is not a proxy' };

/** A complete HTTP/1.1 problem+json answer that closes the connection, with the headers helmet would set. */
function rawAnswer(problem: RawProblem): string {
  const requestId = randomUUID();
  const body = JSON.stringify({ type: `${TYPE_BASE}${problem.slug}`, title: problem.title, status: problem.status, detail: problem.detail, requestId });
  return [
    `HTTP/1.1 ${problem.status} ${problem.reason}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options: nosniff',
    'Strict-Transport-Security: max-age=31536000; includeSubDomains',
    'Cache-Control: no-store',
    ...(problem.status === 405 ? ['Allow: POST, OPTIONS'] : []),
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Requests Node's parser refuses before Express sees them (an unknown method, headers too large, a
 * request that never finishes arriving) and CONNECT get a problem+json answer like every other
 * error, instead of Node's bare status line. As Node itself does, nothing is written once an answer
 * on that connection has started.
 */
export function answerUnparsableRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answering = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && error.code !== 'ECONNRESET' && !answering?.headersSent) socket.write(rawAnswer(BY_CODE[error.code ?? ''] ?? MALFORMED));
    socket.destroy();
  });
  // Node hands a CONNECT socket over without its own error and timeout handling: add both, and close
  // it once the answer is out (the server keeps half-open sockets, so end() alone would not).
  server.on('connect', (_req: unknown, socket: Duplex & { setTimeout(ms: number, onTimeout: () => void): unknown }) => {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(5000, () => socket.destroy());
    socket.end(rawAnswer(CONNECT), () => socket.destroy());
  });
}
