import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { problemBody } from '../answer';
import { HeadersTooLarge, InvalidRequest, MethodNotAllowed, RequestTimeout, type AppError } from '../errors';
import { securityHeaderLines } from './security';

/** The answer to a Node HTTP parser error, by its code; every other one is a 400. */
function problemFor(code: string | undefined): AppError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HeadersTooLarge('Send fewer or smaller headers (16 KiB in all at most)');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestTimeout('Headers must arrive within 10 s and the whole request within 15 s');
    default:
      return new InvalidRequest('The request is not valid HTTP/1.1');
  }
}

/** A complete HTTP/1.1 problem+json answer that closes the connection, with the security headers every answer carries. */
function rawAnswer(problem: AppError, securityHeaders: readonly string[], extraHeaders: readonly string[] = []): string {
  const requestId = randomUUID();
  const body = JSON.stringify(problemBody(problem, requestId));
  return [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    ...securityHeaders,
    'Cache-Control: no-store',
    ...extraHeaders,
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
  const securityHeaders = securityHeaderLines();
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answering = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && error.code !== 'ECONNRESET' && !answering?.headersSent) socket.write(rawAnswer(problemFor(error.code), securityHeaders));
    socket.destroy();
  });
  // Node hands a CONNECT socket over without its own error and timeout handling: add both, and close
  // it once the answer is out (the server keeps half-open sockets, so end() alone would not).
  server.on('connect', (_req: unknown, socket: Duplex & { setTimeout(ms: number, onTimeout: () => void): unknown }) => {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(5000, () => socket.destroy());
    socket.end(rawAnswer(new MethodNotAllowed('This service is not a proxy'), securityHeaders, ['Allow: POST, OPTIONS']), () => socket.destroy());
  });
}
