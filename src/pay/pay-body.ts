import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { InvalidRequest, type FieldError } from '../errors';
import { foldCase } from '../fold-case';
import { escapePointer, scanJson } from './json-scan';

/** A validated pay body: the bytes as received (what is forwarded and fingerprinted) and a parsed view to read fields from. */
export interface PayBody {
  readonly bytes: Buffer;
  readonly fields: Readonly<Record<string, unknown>>;
  /** `Amount` as the client wrote it (e.g. "12.50"), for the journal. */
  readonly amount: string;
}

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const money = z.number({ message: 'must be a number' }).refine((value) => value <= 1_000_000_000, 'must not exceed 1000000000');
const objectOrArray = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())], { message: 'must be an object or an array' });

/**
 * The fields of iCG's ProcessRequest we know, keyed by their lower-case name (iCG binds property
 * names case-insensitively, so `amount` and `Amount` mean the same). Unknown fields pass through.
 */
const KNOWN_FIELDS = {
  amount: money.refine((value) => value > 0, 'must be greater than 0'),
  type: text(32).min(1, 'must not be empty'),
  cashbackamount: money.refine((value) => value >= 0, 'must not be negative').nullish(),
  description: text(1024).nullish(),
  metadata: text(4096).nullish(),
  deviceserialnumber: text(128).nullish(),
  laneid: text(128).nullish(),
  invoices: objectOrArray.nullish(),
  customer: z.record(z.string(), z.unknown(), { message: 'must be an object' }).nullish(),
  method: z.record(z.string(), z.unknown(), { message: 'must be an object' }).nullish(),
  imetadata: objectOrArray.nullish(),
} as const;

/** Money fields, checked on their JSON text: a float would round 12.500000000000001 to two decimals. */
const MONEY_FIELDS = ['amount', 'cashbackamount'] as const;
const PLAIN_DECIMAL = /^-?\d+(\.\d{1,2})?$/;

const REQUIRED = new Set(['amount', 'type']);

/** The canonical spelling of each known field, for messages. */
const SPELLING: Record<string, string> = {
  amount: 'Amount',
  type: 'Type',
  cashbackamount: 'CashBackAmount',
  description: 'Description',
  metadata: 'Metadata',
  deviceserialnumber: 'DeviceSerialNumber',
  laneid: 'Laneid',
  invoices: 'Invoices',
  customer: 'Customer',
  method: 'Method',
  imetadata: 'IMetadata',
};

/**
 * Validates a pay body by meaning, on the bytes received: UTF-8 JSON whose top level is an object, no
 * field repeated in any letter case at any depth, a positive Amount written with at most two decimals
 * (no exponent), a Type, and the known fields of the right kind. The bytes are what is forwarded, so
 * nothing is re-serialised (a 17-digit number or 1e400 reaches iCG exactly as sent). Throws
 * InvalidRequest listing every problem.
 */
export function parsePayBody(bytes: Buffer): PayBody {
  if (!isUtf8(bytes)) throw new InvalidRequest('The request body is not valid UTF-8');
  const text = bytes.toString('utf8');
  const scan = scanJson(text);
  if ('pointer' in scan) throw new InvalidRequest(scan.pointer === '' ? `The request body ${scan.detail}` : 'The request body is not acceptable JSON', [scan]);
  const record = JSON.parse(text) as Record<string, unknown>;
  const errors: FieldError[] = [];
  const spellings = new Map(Object.keys(record).map((key) => [foldCase(key), key]));
  for (const [lower, schema] of Object.entries(KNOWN_FIELDS)) {
    const key = spellings.get(lower);
    if (key === undefined) {
      if (REQUIRED.has(lower)) errors.push({ pointer: `/${SPELLING[lower] ?? lower}`, detail: 'is required' });
      continue;
    }
    const result = schema.safeParse(record[key]);
    if (!result.success) {
      for (const issue of result.error.issues)
        errors.push({ pointer: `/${[key, ...issue.path.map(String)].map(escapePointer).join('/')}`, detail: issue.message });
    }
  }
  for (const field of MONEY_FIELDS) {
    const written = scan.topLevelNumbers.get(field);
    const key = spellings.get(field);
    if (written !== undefined && key !== undefined && !PLAIN_DECIMAL.test(written)) {
      errors.push({
        pointer: `/${escapePointer(key)}`,
        detail: /[eE]/.test(written) ? 'must be a plain decimal number (no exponent)' : 'must have at most two decimal places',
      });
    }
  }
  if (errors.length > 0) throw new InvalidRequest('The payment request has invalid fields', errors);
  return { bytes, fields: record, amount: scan.topLevelNumbers.get('amount') ?? '' };
}
