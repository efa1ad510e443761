import { startHarness, payBody, postJson, type Harness } from '../support/harness';

const ALLOWED = 'https://shop.example.com';

describe('browser origin policy', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { CORS_ORIGINS: ALLOWED, RATE_LIMIT_MAX: '1000', RATE_LIMIT_INVOICE_MAX: '1000' } });
  });
  afterAll(async () => h.close());
  beforeEach(() => {
    h.icg.reset();
  });

  it('refuses a pay from an origin that is not allow-listed with 403, before iCG', async () => {
    const res = await postJson(`${h.url}/pay/1`, payBody(), { Origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(h.icg.stats.pays).toBe(0);
  });

  it('refuses a request the browser marks cross-site even without Origin', async () => {
    expect((await postJson(`${h.url}/pay/2`, payBody(), { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await postJson(`${h.url}/pay/2`, payBody(), { Origin: 'null' })).status).toBe(403);
    expect(h.icg.stats.pays).toBe(0);
  });

  it('allows requests without Origin (mobile apps, servers) and same-origin ones', async () => {
    expect((await postJson(`${h.url}/pay/3`, payBody())).status).toBe(200);
    expect((await postJson(`${h.url}/pay/4`, payBody(), { Origin: h.url, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
  });

  it('answers an allow-listed origin with CORS headers, errors included', async () => {
    const ok = await postJson(`${h.url}/pay/5`, payBody(), { Origin: ALLOWED });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(ok.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    const bad = await postJson(`${h.url}/pay/5`, { Amount: 0 }, { Origin: ALLOWED });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it('answers the preflight for an allow-listed origin and refuses it for others', async () => {
    const preflight = await fetch(`${h.url}/pay/6`, {
      method: 'OPTIONS',
      headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,idempotency-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('Content-Type, Idempotency-Key, X-Request-Id');
    const refused = await fetch(`${h.url}/pay/6`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('security headers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  it('sends a strict CSP and helmet headers, and no X-Powered-By', async () => {
    for (const path of ['/healthz', '/pay/1', '/nope']) {
      const res = await fetch(`${h.url}${path}`, { method: path === '/pay/1' ? 'POST' : 'GET' });
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(res.headers.get('x-request-id')).toBeTruthy();
    }
  });
});

describe('origins of hybrid apps and subdomains', () => {
  it('allows an app scheme and one-label wildcard, refuses Origin: null and deeper names, and logs the refused origin', async () => {
    const h = await startHarness({
      env: { CORS_ORIGINS: 'capacitor://localhost, https://*.shop.example', RATE_LIMIT_MAX: '1000', RATE_LIMIT_INVOICE_MAX: '1000' },
    });
    try {
      const app = await postJson(`${h.url}/pay/app-1`, payBody(), { Origin: 'capacitor://localhost' });
      expect(app.status).toBe(200);
      expect(app.headers.get('access-control-allow-origin')).toBe('capacitor://localhost');
      expect((await postJson(`${h.url}/pay/app-2`, payBody(), { Origin: 'https://eu.shop.example' })).status).toBe(200);
      for (const origin of ['null', 'https://a.b.shop.example', 'https://shop.example'])
        expect((await postJson(`${h.url}/pay/app-3`, payBody(), { Origin: origin, 'X-Request-Id': `refused-${origin.length}` })).status).toBe(403);
      const refused = h.logs[0]?.records().find((r) => r['event'] === 'request' && r['status'] === 403 && r['origin'] === 'https://a.b.shop.example');
      expect(refused).toMatchObject({ problem: 'origin-rejected' });
    } finally {
      await h.close();
    }
  });
});
