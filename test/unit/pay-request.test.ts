import { InvalidRequest } from '../../src/errors';
import { canonicalJson, requestFingerprint } from '../../src/pay/fingerprint';
import { parseInvoiceId } from '../../src/pay/invoice-id';
import { parsePayBody } from '../../src/pay/pay-body';

function errorsOf(body: unknown): { pointer: string; detail: string }[] {
  try {
    parsePayBody(body);
  } catch (error) {
    if (error instanceof InvalidRequest) return [...error.errors];
    throw error;
  }
  return [];
}

describe('invoice id', () => {
  it.each(['112', 'INV-2026_001', 'a'.repeat(64), '9f1c2a3b-0000-4c1d-8e2f-123456789abc'])('accepts %s', (id) => {
    expect(parseInvoiceId(id)).toBe(id);
  });

  it.each(['', 'a'.repeat(65), '../admin', '1;DROP', '1%2F2', 'inv 1', 'ünïcode', '1\n2', '..'])('rejects %j', (id) => {
    expect(() => parseInvoiceId(id)).toThrow(InvalidRequest);
  });
});

describe('pay body', () => {
  it('accepts the documented fields in any letter case and keeps unknown fields', () => {
    const body = { amount: 10, type: 'D', Method: { CardNumber: '4111111111111111' }, CustomField: 'kept' };
    expect(parsePayBody(body)).toBe(body);
  });

  it.each([null, [], 'text', 42, true])('rejects a non-object body %j', (body) => {
    expect(errorsOf(body)).toEqual([{ pointer: '', detail: 'must be a JSON object' }]);
  });

  it('requires Amount and Type', () => {
    expect(errorsOf({}).map((e) => e.pointer)).toEqual(['/Amount', '/Type']);
  });

  it.each([0, -1, '10', 1.005, Number.MAX_VALUE, null])('rejects Amount %j', (amount) => {
    expect(errorsOf({ Amount: amount, Type: 'D' }).every((e) => e.pointer === '/Amount')).toBe(true);
    expect(errorsOf({ Amount: amount, Type: 'D' }).length).toBeGreaterThan(0);
  });

  it('rejects the same field spelled twice in different case', () => {
    expect(errorsOf({ Amount: 1, amount: 2, Type: 'D' })).toEqual([expect.objectContaining({ pointer: '/amount' })]);
  });

  it('rejects JSON nested deeper than any payment needs (it would overflow serialisers)', () => {
    const deep = JSON.parse(`{"Amount":1,"Type":"D","X":${'['.repeat(8000)}${']'.repeat(8000)}}`) as unknown;
    expect(errorsOf(deep)).toEqual([expect.objectContaining({ pointer: '' })]);
    expect(errorsOf({ Amount: 1, Type: 'D', Method: { a: { b: { c: [1, [2]] } } } })).toEqual([]);
  });

  it('checks the kind of known optional fields', () => {
    expect(errorsOf({ Amount: 1, Type: 'D', Method: 'card', Description: 5 }).map((e) => e.pointer)).toEqual(['/Description', '/Method']);
  });
});

describe('request fingerprint', () => {
  it('ignores key order but not values or the invoice', () => {
    const a = requestFingerprint('1', { Amount: 1, Type: 'D', Method: { a: 1, b: 2 } });
    expect(requestFingerprint('1', { Method: { b: 2, a: 1 }, Type: 'D', Amount: 1 })).toBe(a);
    expect(requestFingerprint('2', { Amount: 1, Type: 'D', Method: { a: 1, b: 2 } })).not.toBe(a);
    expect(requestFingerprint('1', { Amount: 2, Type: 'D', Method: { a: 1, b: 2 } })).not.toBe(a);
  });

  it('serialises canonically', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });
});
