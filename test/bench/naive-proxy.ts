/**
 * The naive peer for the benchmark: a bare Express + axios pass-through with none of icg-bff's
 * features (no limits, origin policy, validation, locks, logs or metrics), the same keep-alive agent
 * settings, and a token fetched once at start. Usage: tsx naive-proxy.ts <port> <icg-url>
 */
import http from 'node:http';
import axios from 'axios';
import express from 'express';

async function main(): Promise<void> {
  const [port = '0', icgUrl = ''] = process.argv.slice(2);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256, scheduling: 'lifo' });
  const form = new URLSearchParams({ grant_type: 'password', username: 'sandbox-merchant', password: 'sandbox-password', client_id: 'sandbox-client' });
  const login = await axios.post<{ access_token: string }>(`${icgUrl}/Login`, form, { headers: { Accept: 'application/json' } });
  const authorization = `Bearer ${login.data.access_token}`;
  const app = express();
  app.use(express.json());
  app.post('/pay/:invoiceId', async (req, res) => {
    const upstream = await axios.post(`${icgUrl}/Invoices/${encodeURIComponent(req.params.invoiceId)}/Pay`, req.body, {
      httpAgent: agent,
      headers: { Authorization: authorization },
      validateStatus: () => true,
    });
    res.status(upstream.status).json(upstream.data);
  });
  app.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
}

void main();
