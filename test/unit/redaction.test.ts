import { Writable } from 'node:stream';
import { maskCardNumbers } from '../../src/cardholder-data';
import { createLogger, redactSensitive } from '../../src/logger';
import { Secret } from '../../src/secret';

describe('card number masking', () => {
  it('masks runs of 13-19 digits that pass the Luhn check, grouped or not, to their last four', () => {
    expect(maskCardNumbers('/pay/4111111111111111')).toBe('/pay/XXXXXXXXXXXX1111');
    expect(maskCardNumbers('a 4111-1111-1111-1111 b 378282246310005')).toBe('a XXXXXXXXXXXX1111 b XXXXXXXXXXX0005');
    expect(maskCardNumbers('6011 0009 9013 9424')).toBe('XXXXXXXXXXXX9424');
  });

  it('finds a card number inside a longer run of digits, or written with encoded spaces', () => {
    expect(maskCardNumbers('/pay/2024-4111111111111111')).toBe('/pay/2024-XXXXXXXXXXXX1111');
    expect(maskCardNumbers('/pay/20244111111111111111')).toBe('/pay/XXXXXXXXXXXXXXXX1111');
    expect(maskCardNumbers('/pay/4111%201111%201111%201111')).toBe('/pay/XXXXXXXXXXXX1111');
  });

  it('leaves other numbers alone: invoice ids, short runs, a 13-digit run failing Luhn', () => {
    for (const text of ['/pay/1234567890123', '/pay/123456789012', '/pay/inv-2026-0001', 'order 1001']) expect(maskCardNumbers(text)).toBe(text);
  });
});

describe('log redaction', () => {
  it('censors sensitive fields at any depth, in any letter case', () => {
    const record = {
      event: 'x',
      headers: { cookie: 'a' },
      nested: { Authorization: 'Bearer t', list: [{ CardNumber: '4111111111111111', ok: 1 }] },
      password: 'p',
    };
    expect(redactSensitive(record)).toEqual({
      event: 'x',
      headers: '[redacted]',
      nested: { Authorization: '[redacted]', list: [{ CardNumber: '[redacted]', ok: 1 }] },
      password: '[redacted]',
    });
    expect(record.nested.Authorization).toBe('Bearer t');
  });

  it('returns a record with nothing to censor as it is, without copying', () => {
    const record = { event: 'request', method: 'POST', route: '/pay/:invoiceId', status: 200, upstream: { status: 200 } };
    expect(redactSensitive(record)).toBe(record);
  });

  it('applies to every line the logger writes, at trace level', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ logLevel: 'trace', env: 'production' }, sink);
    logger.trace(
      { body: { Method: { AccountNumber: '446674336', RoutingNumber: '083000056' } }, access_token: 'tok-123', secret: new Secret('hunter2') },
      'careless call',
    );
    const text = lines.join('');
    for (const secret of ['446674336', '083000056', 'tok-123', 'hunter2']) expect(text).not.toContain(secret);
    expect(text).toContain('careless call');
  });
});
