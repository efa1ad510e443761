import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** TCP keep-alive probe delay on pooled iCG sockets: the one axios sets on every request. */
const KEEP_ALIVE_PROBE_MS = 60_000;

/**
 * How long a pooled iCG socket may sit idle before we close it. A pay written to a socket the server
 * is closing at that moment fails with ECONNRESET, and a pay that may have been sent is an unknown
 * outcome (a held invoice, a reconciliation) for a pay iCG never saw. So we close first: under the
 * shortest idle timeouts common servers use (Apache's and Node's five seconds). A server that
 * announces `Keep-Alive: timeout=N` gets N less a second, when that is shorter (Node applies the hint
 * only to an agent that has a timeout of its own).
 */
export const POOLED_SOCKET_IDLE_MS = 4000;

/**
 * Node's agent sets TCP keep-alive again each time a socket goes back to the pool, and axios again on
 * every request: setsockopt system calls that changed nothing, 3 % of the proxy's CPU under load.
 * This socket makes the calls only when the setting changes.
 */
function setKeepAliveOnChange(stream: Duplex | null | undefined): Duplex | null | undefined {
  if (!(stream instanceof net.Socket)) return stream;
  const socket = stream;
  const apply = socket.setKeepAlive.bind(socket);
  let applied: string | undefined;
  socket.setKeepAlive = (enable = false, initialDelay = 0) => {
    const wanted = `${String(enable)}:${String(initialDelay)}`;
    if (wanted !== applied) {
      applied = wanted;
      apply(enable, initialDelay);
    }
    return socket;
  };
  return socket;
}

type PoolOptions = Pick<http.AgentOptions, 'maxSockets' | 'maxFreeSockets'>;

const poolDefaults = { keepAlive: true, keepAliveMsecs: KEEP_ALIVE_PROBE_MS, timeout: POOLED_SOCKET_IDLE_MS, scheduling: 'lifo' } as const;

/** Keep-alive agent for http:// iCG URLs (the sandbox, loopback). */
export class HttpPoolAgent extends http.Agent {
  constructor(options: PoolOptions) {
    super({ ...poolDefaults, ...options });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return setKeepAliveOnChange(super.createConnection(options, callback));
  }
}

/** Keep-alive agent for https:// iCG URLs (production). */
export class HttpsPoolAgent extends https.Agent {
  constructor(options: PoolOptions) {
    super({ ...poolDefaults, ...options });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return setKeepAliveOnChange(super.createConnection(options, callback));
  }
}
