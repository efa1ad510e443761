import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config';
import { IcgClient } from '../../src/icg/client';
import { POOLED_SOCKET_IDLE_MS } from '../../src/icg/pool-agents';
import { AccessToken } from '../../src/icg/access-token';
import { createMetrics } from '../../src/metrics';

/**
 * A pay sent on a pooled socket that the server closes at that moment fails with ECONNRESET: an
 * outcome we must call unknown, for a pay iCG never saw. So a pooled socket is retired before the
 * server would close it: at the server's Keep-Alive hint less a second, else after a short idle time.
 */
describe('pooled iCG connections', () => {
  let server: http.Server;
  let connections = 0;
  let client: IcgClient;

  async function start(keepAliveTimeoutMs: number): Promise<void> {
    server = http.createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Status: 'Approved' }));
    });
    server.keepAliveTimeout = keepAliveTimeoutMs;
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    client = new IcgClient(
      loadConfig({ NODE_ENV: 'test', ICG_AUTH_URL: url, ICG_API_URL: url, ICG_CLIENT_ID: 'c', ICG_USERNAME: 'u', ICG_PASSWORD: 'p' }).icg,
      createMetrics(),
    );
  }

  const pay = (id: string) => client.payInvoice(id, Buffer.from('{"Amount":1,"Type":"D"}'), new AccessToken('token'), 'request-id');

  beforeEach(() => {
    connections = 0;
  });
  afterEach(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reuses a socket while the server keeps it', async () => {
    await start(2000);
    await pay('1');
    await sleep(300);
    await pay('2');
    expect(connections).toBe(1);
  });

  it("retires an idle socket a second before the server's Keep-Alive hint says it closes it", async () => {
    await start(2000); // the server answers Keep-Alive: timeout=2
    await pay('1');
    await sleep(1300);
    await pay('2');
    expect(connections).toBe(2);
  });

  it('retires an idle socket after a short idle time when the server gives no hint', async () => {
    await start(0); // no idle timeout on the server, and no Keep-Alive hint
    await pay('1');
    await sleep(POOLED_SOCKET_IDLE_MS + 300);
    await pay('2');
    expect(connections).toBe(2);
  });
});
