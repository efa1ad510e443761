import { nextBackoffMs, refreshMarginMs, tokenTimes } from '../../src/icg/token-timing';

const policy = { refreshMarginMaxMs: 60_000, refreshMarginRatio: 0.1 };

describe('token expiry maths', () => {
  it('refreshes a 24 h token 60 s before it expires', () => {
    const times = tokenTimes(1_000_000, 86_399, policy);
    expect(times.expiresAt).toBe(1_000_000 + 86_399_000);
    expect(times.expiresAt - times.refreshAt).toBe(60_000);
  });

  it('refreshes a 5 s token half a second before it expires', () => {
    const times = tokenTimes(0, 5, policy);
    expect(times.expiresAt).toBe(5000);
    expect(times.refreshAt).toBe(4500);
  });

  it('uses the smaller of the cap and the share of the lifetime', () => {
    expect(refreshMarginMs(600_000, policy)).toBe(60_000);
    expect(refreshMarginMs(100_000, policy)).toBe(10_000);
    expect(refreshMarginMs(100_000, { refreshMarginMaxMs: 0, refreshMarginRatio: 0.1 })).toBe(0);
  });

  it('counts the lifetime from when the login was sent', () => {
    expect(tokenTimes(42, 1, policy).expiresAt).toBe(1042);
  });

  it('doubles the credentials backoff up to its cap', () => {
    expect(nextBackoffMs(null, 1000, 8000)).toBe(1000);
    expect(nextBackoffMs(1000, 1000, 8000)).toBe(2000);
    expect(nextBackoffMs(8000, 1000, 8000)).toBe(8000);
  });
});
