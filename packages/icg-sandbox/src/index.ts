import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultFaults } from './faults';
import { TokenAuthority } from './jwt';
import { Pauses } from './pauses';
import { createRequestHandler } from './routes';
import { emptyStats, type IcgSandbox, type ReceivedPay, type SandboxOptions } from './types';

export type { SandboxFaults } from './faults';
export type { IcgSandbox, ReceivedPay, SandboxOptions, SandboxStats } from './types';

/**
 * Starts the iCG sandbox: a real HTTP server implementing iCG's documented contract (POST /Login,
 * POST /Invoices/{id}/Pay) with fault knobs, plus /__sandbox admin endpoints (POST faults, GET stats,
 * POST reset, POST revoke) for control from another process. Plain node:http keeps it fast enough
 * that benchmarks measure the proxy, not the fake.
 */
export async function startIcgSandbox(options: SandboxOptions = {}): Promise<IcgSandbox> {
  const host = options.host ?? '127.0.0.1';
  const clientId = options.clientId ?? 'sandbox-client';
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const initialFaults = () => defaultFaults(options.tokenLifetimeSeconds ?? 86399, options.issueRefreshTokens ?? false);
  const faults = initialFaults();
  const stats = emptyStats();
  const received: ReceivedPay[] = [];
  // iCG's tokens name the auth host as issuer; here that is the sandbox itself.
  const tokens = new TokenAuthority(`${url}/`, clientId);
  const pauses = new Pauses();
  let closing: Promise<void> | null = null;

  const sandbox: IcgSandbox = {
    url,
    faults,
    stats,
    received,
    revokeAllTokens: () => {
      tokens.revokeAll();
    },
    reset: () => {
      Object.assign(faults, initialFaults());
      Object.assign(stats, emptyStats());
      received.length = 0;
    },
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        pauses.cancelAll();
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
  const login = { clientId, username: options.username ?? 'sandbox-merchant', password: options.password ?? 'sandbox-password', faults, tokens, stats };
  // Attached before control returns to the event loop, so no request can be served without it.
  server.on('request', createRequestHandler({ faults, stats, received, tokens, login, pauses, control: sandbox }));
  return sandbox;
}
