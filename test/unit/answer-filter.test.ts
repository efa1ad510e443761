import { maskCardNumbers, mayHoldCardNumber, SensitiveValues } from '../../src/cardholder-data';
import { referencesOf } from '../../src/pay/outcome';
import { AnswerFilter } from '../../src/icg/answer-filter';
import { acceptableRequestId } from '../../src/http/request-id';

describe("the filter on iCG's answers", () => {
  const filter = new AnswerFilter();

  it('keeps the documented fields, in the letter case iCG sent, and drops RawRequest, RawResponse and unknown fields', () => {
    const answer = {
      TransactionId: 't-1',
      Status: 'Approved',
      status_extra: 1,
      RawRequest: '{"CardNumber":"4111111111111111","Cvv":"123"}',
      rawresponse: 'x',
      cardDisplay: 'XXXXXXXXXXXX1111',
      Unknown: { a: 1 },
    };
    expect(filter.filter(answer, SensitiveValues.none())).toEqual({ TransactionId: 't-1', Status: 'Approved', cardDisplay: 'XXXXXXXXXXXX1111' });
  });

  it('walks nested objects leaf by leaf: verification codes dropped, account numbers and cards masked', () => {
    const answer = {
      ExtraData: {
        Method: { CardNumber: '4111111111111111', Cvv: '123', Bank: { AccountNumber: '446674336', RoutingNumber: '083000056' } },
        Note: 'card 5454 5454 5454 5454 used',
      },
    };
    expect(filter.filter(answer, SensitiveValues.none())).toEqual({
      ExtraData: {
        Method: { CardNumber: 'XXXXXXXXXXXX1111', Bank: { AccountNumber: 'XXXXX4336', RoutingNumber: '083000056' } },
        Note: 'card XXXXXXXXXXXX5454 used',
      },
    });
  });

  it('masks whatever the request carried wherever the answer echoes it, under any name', () => {
    const request = { Amount: 1, Customer: { Deep: [{ MyAcct: '99887766554' }], Security: { Cvc: '4321' } } };
    const answer = { ExtraData: { Echo: { x: '99887766554', y: '4321', z: 'acct 99887766554 end' } }, StatusMessage: 'paid from 99887766554' };
    expect(filter.filter(answer, SensitiveValues.of(request))).toEqual({
      ExtraData: { Echo: { x: 'XXXXXXX6554', z: 'acct XXXXXXX6554 end' } },
      StatusMessage: 'paid from XXXXXXX6554',
    });
  });

  it('removes a verification code written after its name inside free text', () => {
    const values = SensitiveValues.none();
    expect(values.scrub('{"Cvv":"123","cvc2": 9876, CVV=555}')).toBe('{"Cvv":"","cvc2": , CVV=}');
  });

  it('turns a card number sent as a JSON number into its masked text', () => {
    expect(filter.filter({ ExtraData: { n: 4111111111111111, amount: 12.5, count: 3 } }, SensitiveValues.none())).toEqual({
      ExtraData: { n: 'XXXXXXXXXXXX1111', amount: 12.5, count: 3 },
    });
  });

  it('admits extra fields an operator lists, scrubbed like the rest', () => {
    const extended = new AnswerFilter(['EmvData', 'Receipt.Footer']);
    const answer = { EmvData: { Tag9F26: 'abc', Pan: '4111111111111111' }, Receipt: { Footer: 'thanks', Pan: '4111111111111111' } };
    expect(extended.filter(answer, SensitiveValues.none())).toEqual({ EmvData: { Tag9F26: 'abc', Pan: 'XXXXXXXXXXXX1111' }, Receipt: { Footer: 'thanks' } });
  });

  it('relays no body for an answer that is not a JSON object', () => {
    expect(filter.filter(['4111111111111111'], SensitiveValues.none())).toBeNull();
    expect(filter.filter('4111111111111111', SensitiveValues.none())).toBeNull();
    expect(filter.filter(null, SensitiveValues.none())).toBeNull();
  });
});

describe('what the filter recognises', () => {
  const filter = new AnswerFilter();

  it('masks card numbers however they are grouped, and only the card in a longer run', () => {
    const groupings = [
      '4032.6912.1642.1016',
      '4032/6912/1642/1016',
      '4032_6912_1642_1016',
      '4032  6912  1642  1016',
      '4032 - 6912 - 1642 - 1016',
      '4032\u00a06912\u00a01642\u00a01016',
      '4032\t6912\t1642\t1016',
      '4032,6912,1642,1016',
    ];
    for (const text of groupings) expect(maskCardNumbers(`card ${text} end`)).toBe('card XXXXXXXXXXXX1016 end');
    expect(maskCardNumbers('4111111111111111 0')).toBe('XXXXXXXXXXXX1111 0');
    expect(maskCardNumbers('2026-11-26T13:56:05.256Z')).toBe('2026-11-26T13:56:05.256Z');
  });

  it('drops verification codes under any of their usual names, and as numbers', () => {
    const names = [
      'Cvv',
      'CVV2',
      'cvc',
      'CardCode',
      'cvv_code',
      'CVVNumber',
      'Cvv2Value',
      'VerificationCode',
      'CvvCode',
      'SecurityCode',
      'card_verification_value',
      'CID',
      'CV2',
      'CV',
      'CSV',
      'CvvData',
      'Cvv2Data',
      'Pin',
      'PinBlock',
    ];
    const answer = { ExtraData: Object.fromEntries(names.map((name) => [name, '123'])), CvcResponse: 'M' };
    expect(filter.filter(answer, SensitiveValues.none())).toEqual({ ExtraData: {}, CvcResponse: 'M' });
    const request = { Method: { Cvv: 519 } };
    expect(filter.filter({ ExtraData: { Echo: { Code: 519, List: ['x', 519] } }, TransactionAmount: 519 }, SensitiveValues.of(request))).toEqual({
      ExtraData: { Echo: { List: ['x'] } },
      TransactionAmount: 519,
    });
  });

  it('masks account numbers under any of their usual names, and in free text', () => {
    const names = ['AccountNumber', 'acctNbr', 'account_nr', 'AccNo', 'Kontonummer', 'accountId', 'BankAccount', 'DDA'];
    const answer = { ExtraData: Object.fromEntries(names.map((name) => [name, '446674336'])) };
    expect(filter.filter(answer, SensitiveValues.none())).toEqual({ ExtraData: Object.fromEntries(names.map((name) => [name, 'XXXXX4336'])) });
    expect(filter.filter({ StatusMessage: 'please charge from acct 4218525472384, CVV 123 does not match' }, SensitiveValues.none())).toEqual({
      StatusMessage: 'please charge from acct XXXXXXXXX2384, CVV  does not match',
    });
  });

  it('masks account numbers held as the number of an account object, and echoes of codes and accounts sent under such names', () => {
    const answer = {
      ExtraData: {
        Bank: { BankAccount: { Number: '115654668777' }, Account: { No: 115654668777 }, ACH: { Number: '115654668777' }, Routing: { Number: '083000108' } },
      },
      ErrorData: { Checking: '115654668777', checkingAccountNo: '446674336' },
    };
    expect(filter.filter(answer, SensitiveValues.none())).toEqual({
      ExtraData: {
        Bank: { BankAccount: { Number: 'XXXXXXXX8777' }, Account: { No: 'XXXXXXXX8777' }, ACH: { Number: 'XXXXXXXX8777' }, Routing: { Number: '083000108' } },
      },
      ErrorData: { Checking: 'XXXXXXXX8777', checkingAccountNo: 'XXXXX4336' },
    });
    const request = { Method: { CV2: '7319', Bank: { ACH: { Number: '115654668777' } } } };
    const echo = JSON.stringify(request);
    const scrubbed = JSON.stringify(filter.filter({ ExtraData: { Echo: echo, Again: { Value: '7319', Other: '115654668777' } } }, SensitiveValues.of(request)));
    expect(scrubbed).not.toContain('7319');
    expect(scrubbed).not.toContain('115654668777');
  });

  it("keeps iCG's references whole, though a long one may pass the Luhn check, unless they echo what the request carried", () => {
    const request = { Method: { CardNumber: '4111111111111111', Cvv: '123' } };
    const answer = {
      TransactionId: '4012888888881881',
      ConfirmationCode: 4012888888881881,
      ApprovalCode: '5454545454545454',
      ReferenceNumber: '4111111111111111',
    };
    expect(filter.filter(answer, SensitiveValues.of(request))).toEqual({
      TransactionId: '4012888888881881',
      ConfirmationCode: 4012888888881881,
      ApprovalCode: '5454545454545454',
      ReferenceNumber: 'XXXXXXXXXXXX1111',
    });
    // Elsewhere such a number is masked as a card.
    expect(filter.filter({ StatusMessage: 'ref 4012888888881881' }, SensitiveValues.of(request))).toEqual({ StatusMessage: 'ref XXXXXXXXXXXX1881' });
  });

  it('masks a number the request carried however the answer regroups it, and removes its verification code from text', () => {
    const request = { Method: { AcctNo: '446674336', CardCode: '3260' } };
    expect(filter.filter({ StatusMessage: 'echo 446-674-336 and 446.674.336, code 3260, not 13260' }, SensitiveValues.of(request))).toEqual({
      StatusMessage: 'echo XXXXX4336 and XXXXX4336, code , not 13260',
    });
  });

  it('keeps at most a thousand leaves and four kilobytes of text per leaf', () => {
    const big = { ExtraData: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`f${i}`, i])), StatusMessage: 'x'.repeat(10_000) };
    const filtered = filter.filter(big, SensitiveValues.none());
    expect(Object.keys(filtered?.['ExtraData'] as object)).toHaveLength(1000);
    expect(filtered?.['StatusMessage']).toBeUndefined();
    const text = filter.filter({ StatusMessage: 'x'.repeat(10_000) }, SensitiveValues.none());
    expect(String(text?.['StatusMessage'])).toHaveLength(4097);
  });

  it('keeps top-level values only when asked to (records whose request is unknown)', () => {
    expect(new AnswerFilter([], true).filter({ Status: 'Approved', ExtraData: { Value: 123 }, ErrorData: { Code: '05' } }, SensitiveValues.none())).toEqual({
      Status: 'Approved',
    });
  });
});

describe('card number masking', () => {
  it('masks runs of 13-19 digits that pass the Luhn check, grouped or not, to their last four', () => {
    expect(maskCardNumbers('a 4111-1111-1111-1111 b 378282246310005')).toBe('a XXXXXXXXXXXX1111 b XXXXXXXXXXX0005');
    expect(mayHoldCardNumber('ref-6011 0009 9013 9424')).toBe(true);
    expect(mayHoldCardNumber('order-2026-0001')).toBe(false);
  });
});

describe('X-Request-Id', () => {
  it('keeps a well-formed id and replaces one that may carry a card number, grouped or not', () => {
    expect(acceptableRequestId('req-114')).toBe('req-114');
    for (const offered of ['4111111111111111', 'req-4111-1111-1111-1111', 'x5454545454545454y', 'has space', undefined]) {
      const id = acceptableRequestId(offered);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(id).not.toBe(offered);
    }
  });
});

describe("iCG's references for the journal", () => {
  it('takes them as strings, whole numbers as their digits, and nothing else', () => {
    expect(referencesOf({ TransactionId: 4012888888881881, confirmationcode: 'C-1' })).toEqual({ transactionId: '4012888888881881', confirmationCode: 'C-1' });
    expect(referencesOf({ TransactionId: 1.5, ConfirmationCode: '' })).toEqual({});
    expect(referencesOf(null)).toEqual({});
  });
});
