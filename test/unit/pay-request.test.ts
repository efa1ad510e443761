import { isVerificationCodeKey } from '../../src/cardholder-data';
import { InvalidRequest } from '../../src/errors';
import { Keyring } from '../../src/keyring';
import { canonicalJson, isSameRequest, legacyFingerprint, requestFingerprint } from '../../src/pay/fingerprint';
import { canonicalInvoiceId, parseInvoiceId } from '../../src/pay/invoice-id';
import { parsePayBody } from '../../src/pay/pay-body';

const bytes = (text: string) => Buffer.from(text);
const json = (value: unknown) => bytes(JSON.stringify(value));

function errorsOf(body: Buffer): { pointer: string; detail: string }[] {
  try {
    parsePayBody(body);
  } catch (error) {
    if (error instanceof InvalidRequest) return error.errors.length > 0 ? [...error.errors] : [{ pointer: '', detail: error.message }];
    throw error;
  }
  return [];
}

describe('invoice id', () => {
  it.each(['112', 'INV-2026_001', 'a'.repeat(64), '9f1c2a3b-0000-4c1d-8e2f-123456789abc', '2147483647', 'c1732630001863a'])('accepts %s', (id) => {
    expect(parseInvoiceId(id).asSent).toBe(id);
  });

  it.each(['', 'a'.repeat(65), '../admin', '1;DROP', '1%2F2', 'inv 1', 'ünïcode', '1\n2', '..', '2147483648', '4111111111111111', '99999999999', '-962', '-0'])(
    'rejects %j',
    (id) => {
      expect(() => parseInvoiceId(id)).toThrow(InvalidRequest);
    },
  );

  it.each([
    'INV_4111111111111111',
    '4111-1111-1111-1111',
    'card_4111_1111_1111_1111',
    'x378282246310005y',
    '3782-822463-10005',
    'ORD-6011000990139424-A',
    // GUID-shaped: a card number among its hex digits, or in its printed groups
    '4111111111111111a000000000000000',
    'abcd4111-1111-1111-1111-abcdefabcdef',
    // split anywhere by - or _
    '4111-111111111111',
    '41_11_11_11_11_11_11_11',
    'inv-41111111-11111111',
    '378282246-310005',
    '41111111-1111-1111-a000-000000000000',
    '67596498-2643-8453-a000-000000000000',
    'ABCDEF01234567894111111111111111',
  ])('rejects %j, which holds a card number (it would reach logs and Redis keys)', (id) => {
    let refusal: unknown;
    try {
      parseInvoiceId(id);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(InvalidRequest);
    expect((refusal as InvalidRequest).errors[0]?.detail).toMatch(/card number/);
  });

  it.each(['INV-1732630001863', 'INV-2026-11-26-000123', 'ORD-4111111111111112', 'order_20261126_0001'])('accepts %j, which holds no card number', (id) => {
    expect(parseInvoiceId(id).asSent).toBe(id);
  });

  it('refuses few random GUIDs written with their hyphens, and tells one written without them to send them', () => {
    // A seeded generator (mulberry32), so the count is the same on every run.
    let seed = 42;
    const nextHex = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) % 16).toString(16);
    };
    const hex = () => Array.from({ length: 32 }, nextHex).join('');
    const guids = Array.from({ length: 20_000 }, () => hex().replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'));
    const refused = guids.filter((guid) => {
      try {
        parseInvoiceId(guid);
        return false;
      } catch {
        return true;
      }
    });
    expect(refused.length).toBeLessThan(25);
    let refusal: unknown;
    try {
      parseInvoiceId('4111111111111111a000000000000000');
    } catch (error) {
      refusal = error;
    }
    expect((refusal as InvalidRequest).errors[0]?.detail).toContain('send a GUID with its hyphens');
  });

  it('gives one canonical form to the spellings iCG reads as one invoice', () => {
    expect(['962', '0962', '00962'].map(canonicalInvoiceId)).toEqual(['962', '962', '962']);
    expect(canonicalInvoiceId('0')).toBe('0');
    expect(canonicalInvoiceId('000')).toBe('0');
    const guid = '9f1c2a3b-0000-4c1d-8e2f-123456789abc';
    expect(['9F1C2A3B-0000-4C1D-8E2F-123456789ABC', '9f1c2a3b00004c1d8e2f123456789abc', guid].map(canonicalInvoiceId)).toEqual([guid, guid, guid]);
    expect(canonicalInvoiceId('INV-0962')).toBe('INV-0962');
  });

  it('keeps the id as sent for the path to iCG', () => {
    expect(parseInvoiceId('00962')).toEqual({ asSent: '00962', canonical: '962' });
  });
});

describe('pay body', () => {
  it('accepts the documented fields in any letter case, keeps unknown fields and the bytes as received', () => {
    const text = '{"amount": 10, "type":"D", "Method": {"CardNumber": "4111111111111111"}, "CustomField": "kept", "Big": 9007199254740993, "Huge": 1e400}';
    const body = parsePayBody(bytes(text));
    expect(body.bytes.toString()).toBe(text);
    expect(body.fields['CustomField']).toBe('kept');
    expect(body.amount).toBe('10');
  });

  it.each(['null', '[]', '"text"', '42', 'true', ''])('rejects a body that is not a JSON object: %j', (text) => {
    expect(errorsOf(bytes(text))).toEqual([{ pointer: '', detail: expect.stringMatching(/must be a JSON object|not valid JSON/) }]);
  });

  it('rejects malformed JSON and text after the object', () => {
    for (const text of ['{"Amount": 1,', '{"Amount": 01}', '{"Amount": 1} x', "{'Amount': 1}", '{"a":"\u0001"}'])
      expect(errorsOf(bytes(text)).length).toBeGreaterThan(0);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(() => parsePayBody(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(InvalidRequest);
  });

  it('requires Amount and Type', () => {
    expect(errorsOf(json({})).map((e) => e.pointer)).toEqual(['/Amount', '/Type']);
  });

  it.each(['0', '-1', '"10"', '1.005', '12.500000000000001', '1e2', '1E-2', '1e400', 'null'])('rejects Amount %s, checked as written', (amount) => {
    const errors = errorsOf(bytes(`{"Amount": ${amount}, "Type": "D"}`));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.pointer === '/Amount')).toBe(true);
  });

  it.each(['12.5', '12.50', '1', '0.01'])('accepts Amount %s', (amount) => {
    expect(errorsOf(bytes(`{"Amount": ${amount}, "Type": "D"}`))).toEqual([]);
  });

  it('rejects a field repeated in any letter case, at any depth', () => {
    expect(errorsOf(bytes('{"Amount": 1, "amount": 2, "Type": "D"}'))).toEqual([expect.objectContaining({ pointer: '/amount' })]);
    expect(errorsOf(bytes('{"Amount": 1, "Type": "D", "Method": {"Card": {"Number": "1", "NUMBER": "2"}}}'))).toEqual([
      expect.objectContaining({ pointer: '/Method/Card/NUMBER' }),
    ]);
    expect(errorsOf(bytes('{"Amount": 1, "Type": "D", "Invoices": [{"Id": 1, "id": 2}]}'))).toEqual([expect.objectContaining({ pointer: '/Invoices/0/id' })]);
    expect(errorsOf(bytes('{"Amount": 1, "Type": "D", "Invoices": [{"Id": 1}, {"Id": 2}]}'))).toEqual([]);
  });

  it('folds letter case the way iCG binds names: a dotless ı or a long ſ spells the same field', () => {
    expect(errorsOf(bytes('{"Amount": 1, "Type": "D", "Method": {"Card": {"Expiration": "1", "Exp\u0131ration": "3"}}}'))).toEqual([
      expect.objectContaining({ pointer: '/Method/Card/Exp\u0131ration' }),
    ]);
    expect(errorsOf(bytes('{"Amount": 1, "Type": "D", "Note": {"Sum": 1, "\u017fum": 2}}'))).toEqual([expect.objectContaining({ pointer: '/Note/\u017fum' })]);
    expect(isVerificationCodeKey('\u017fecurityCode')).toBe(true);
  });

  it('rejects JSON nested deeper than any payment needs, without recursing into it', () => {
    expect(errorsOf(bytes(`{"Amount":1,"Type":"D","X":${'['.repeat(8000)}${']'.repeat(8000)}}`))).toEqual([
      expect.objectContaining({ detail: expect.stringContaining('nest') }),
    ]);
    expect(errorsOf(json({ Amount: 1, Type: 'D', Method: { a: { b: { c: [1, [2]] } } } }))).toEqual([]);
  });

  it('checks the kind of known optional fields', () => {
    expect(errorsOf(json({ Amount: 1, Type: 'D', Method: 'card', Description: 5 })).map((e) => e.pointer)).toEqual(['/Description', '/Method']);
  });
});

describe('request fingerprint', () => {
  const keyring = Keyring.development();
  const invoice = parseInvoiceId('0962');

  it('is keyed, over the canonical invoice and the bytes', () => {
    const body = parsePayBody(json({ Amount: 1, Type: 'D' }));
    const digest = requestFingerprint(keyring, invoice, body);
    expect(digest.kid).toBe('dev');
    expect(isSameRequest(digest, keyring, parseInvoiceId('962'), body)).toBe(true);
    expect(isSameRequest(digest, keyring, invoice, parsePayBody(bytes('{"Type":"D","Amount":1}')))).toBe(false);
    expect(isSameRequest(digest, keyring, parseInvoiceId('963'), body)).toBe(false);
    expect(isSameRequest({ kid: 'other', mac: digest.mac }, keyring, invoice, body)).toBe(false);
  });

  it('still recognises the plain SHA-256 an earlier version stored', () => {
    const body = parsePayBody(json({ Amount: 1, Type: 'D', Method: { a: 1, b: 2 } }));
    expect(isSameRequest(legacyFingerprint('0962', { Type: 'D', Method: { b: 2, a: 1 }, Amount: 1 }), keyring, invoice, body)).toBe(true);
    expect(isSameRequest(legacyFingerprint('962', body.fields), keyring, invoice, body)).toBe(false);
  });

  it('serialises canonically for the legacy form', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });
});
