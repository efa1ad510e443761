import { startHarness, payBody, postJson, type Harness } from '../support/harness';

/** The value of one sample in Prometheus text, e.g. sample(text, 'x_total{a="b"}'). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { RATE_LIMIT_MAX: '100', RATE_LIMIT_INVOICE_MAX: '3', CORS_ORIGINS: 'https://shop.example.com' } });
  });
  afterAll(async () => h.close());

  it('counts what happened, with route templates and never raw invoice ids', async () => {
    for (let i = 0; i < 3; i += 1) expect((await postJson(`${h.url}/pay/m${i}`, payBody())).status).toBe(200);
    expect((await postJson(`${h.url}/pay/bad!id`, payBody())).status).toBe(400);
    expect((await postJson(`${h.url}/pay/m9`, payBody(), { Origin: 'https://evil.example' })).status).toBe(403);
    for (let i = 0; i < 4; i += 1) await postJson(`${h.url}/pay/hammered`, payBody({ Method: { CardNumber: `400000000000000${i}` } }));
    expect((await postJson(`${h.url}/pay/m10`, payBody(), { 'Idempotency-Key': 'metrics-key-1' })).status).toBe(200);
    expect((await postJson(`${h.url}/pay/m10`, payBody(), { 'Idempotency-Key': 'metrics-key-1' })).headers.get('idempotent-replayed')).toBe('true');
    h.icg.faults.payDelayMs = 300;
    await Promise.all([postJson(`${h.url}/pay/m11`, payBody()), postJson(`${h.url}/pay/m11`, payBody())]);
    h.icg.faults.payDelayMs = 0;

    const res = await fetch(`${h.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(sample(text, 'icg_bff_http_request_duration_seconds_count{method="POST",route="/pay/:invoiceId",status_code="200"}')).toBe(3 + 3 + 1 + 1 + 1);
    expect(sample(text, 'icg_bff_http_request_duration_seconds_count{method="POST",route="/pay/:invoiceId",status_code="429"}')).toBe(1);
    expect(sample(text, 'icg_bff_http_request_duration_seconds_count{method="POST",route="/pay/:invoiceId",status_code="409"}')).toBe(1);
    expect(text).not.toMatch(/route="\/pay\/m\d/);
    expect(sample(text, 'icg_bff_icg_request_duration_seconds_count{operation="pay",outcome="success"}')).toBe(h.icg.stats.pays);
    expect(sample(text, 'icg_bff_icg_request_duration_seconds_count{operation="login",outcome="success"}')).toBe(1);
    expect(sample(text, 'icg_bff_token_acquisitions_total{kind="login",result="success"}')).toBe(1);
    expect(sample(text, 'icg_bff_token_expiry_seconds')).toBeGreaterThan(86000);
    expect(sample(text, 'icg_bff_rate_limited_total{limit="invoice"}')).toBe(1);
    expect(sample(text, 'icg_bff_origin_rejected_total')).toBe(1);
    expect(sample(text, 'icg_bff_idempotent_replays_total')).toBe(1);
    expect(sample(text, 'icg_bff_in_flight_conflicts_total{guard="invoice"}')).toBe(1);
    expect(sample(text, 'icg_bff_redis_up')).toBe(1);
    expect(text).toMatch(/^icg_bff_process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^icg_bff_nodejs_eventloop_lag_seconds /m);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  it('requires the bearer token', async () => {
    const h = await startHarness({ env: { METRICS_TOKEN: 'metrics-token-0123456789' } });
    try {
      const anonymous = await fetch(`${h.url}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${h.url}/metrics`, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      expect((await fetch(`${h.url}/metrics`, { headers: { Authorization: 'Bearer metrics-token-0123456789' } })).status).toBe(200);
      // The scheme name is case-insensitive (RFC 9110).
      expect((await fetch(`${h.url}/metrics`, { headers: { Authorization: 'bearer metrics-token-0123456789' } })).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('request logs', () => {
  it('writes one JSON line per request with request id, route, status, durations and upstream status', async () => {
    const h = await startHarness();
    try {
      await postJson(`${h.url}/pay/log-1`, payBody(), { 'X-Request-Id': 'log-req-1' });
      const lines = h.logs[0]?.records().filter((r) => r['event'] === 'request' && r['requestId'] === 'log-req-1') ?? [];
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'info',
        method: 'POST',
        route: '/pay/:invoiceId',
        path: '/pay/log-1',
        status: 200,
        upstreamStatus: 200,
        durationMs: expect.any(Number),
        upstreamDurationMs: expect.any(Number),
        time: expect.any(String),
      });
      expect(h.logs[0]?.records().some((r) => r['event'] === 'token_obtained')).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('logs a failed pay at warn with its problem type and what iCG answered, and counts an unreadable answer as such', async () => {
    const h = await startHarness({ env: { ICG_TIMEOUT_MS: '300' } });
    try {
      h.icg.faults.payStatus = 503;
      await postJson(`${h.url}/pay/log-2`, payBody(), { 'X-Request-Id': 'log-req-2' });
      h.icg.faults.payStatus = null;
      h.icg.faults.payNonJson = true;
      await postJson(`${h.url}/pay/log-3`, payBody(), { 'X-Request-Id': 'log-req-3' });
      h.icg.faults.payNonJson = false;
      h.icg.faults.payHang = true;
      await postJson(`${h.url}/pay/log-4`, payBody(), { 'X-Request-Id': 'log-req-4' });
      const line = (id: string) => h.logs[0]?.records().find((r) => r['event'] === 'request' && r['requestId'] === id);
      expect(line('log-req-2')).toMatchObject({
        level: 'warn',
        status: 502,
        problem: 'outcome-unknown',
        upstreamStatus: 503,
        upstreamDurationMs: expect.any(Number),
      });
      expect(line('log-req-3')).toMatchObject({ level: 'warn', status: 502, problem: 'outcome-unknown', upstreamStatus: 200 });
      expect(line('log-req-4')).toMatchObject({ level: 'warn', status: 504, problem: 'outcome-unknown', upstreamDurationMs: expect.any(Number) });
      expect(line('log-req-4')).not.toHaveProperty('upstreamStatus');
      const text = await (await fetch(`${h.url}/metrics`)).text();
      expect(text).toMatch(/icg_bff_icg_request_duration_seconds_count\{operation="pay",outcome="invalid_response"\} 1\n/);
      expect(text).toMatch(/icg_bff_icg_request_duration_seconds_count\{operation="pay",outcome="server_error"\} 1\n/);
      // The series exists from the start (at 0), so an alert sees a first event; no pay succeeded here.
      expect(text).toMatch(/icg_bff_icg_request_duration_seconds_count\{operation="pay",outcome="success"\} 0\n/);
    } finally {
      await h.close();
    }
  });
});

describe('GET /healthz and /readyz', () => {
  it('report liveness and each dependency of readiness', async () => {
    const h = await startHarness();
    try {
      const live = await fetch(`${h.url}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${h.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'ready',
        checks: { config: { status: 'up' }, redis: { status: 'up' }, token: { status: 'up', detail: 'obtained' } },
      });
      expect(h.icg.stats.logins).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('stays ready while iCG rejects the credentials, and says so in the detail (every instance would fail together)', async () => {
    const h = await startHarness();
    try {
      h.icg.faults.rejectCredentials = true;
      const ready = await fetch(`${h.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'degraded', checks: { token: { status: 'down' } } });
    } finally {
      await h.close();
    }
  });
});
