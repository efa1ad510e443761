import { z } from 'zod';
import { InvalidRequest, type FieldError } from '../errors';

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const money = z
  .number({ message: 'must be a number' })
  .refine((value) => Math.abs(Math.round(value * 100) - value * 100) < 1e-6, 'must have at most two decimal places')
  .refine((value) => value <= 1_000_000_000, 'must not exceed 1000000000');
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
 * Validates a pay body by meaning: a JSON object with a positive Amount (at most two decimals) and a
 * Type, known fields of the right kind, no field spelled twice in different case. Returns the body
 * as sent (original spellings, unknown fields kept) or throws InvalidRequest listing every problem.
 */
export function parsePayBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object', [{ pointer: '', detail: 'must be a JSON object' }]);
  }
  if (nestingDepth(body) > MAX_DEPTH) {
    throw new InvalidRequest(`The request body nests deeper than ${MAX_DEPTH} levels`, [
      { pointer: '', detail: `must not nest deeper than ${MAX_DEPTH} levels` },
    ]);
  }
  const record = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const seen = new Map<string, string>();
  for (const key of Object.keys(record)) {
    const lower = key.toLowerCase();
    const earlier = seen.get(lower);
    if (earlier !== undefined)
      errors.push({ pointer: `/${escapePointer(key)}`, detail: `duplicates "${escapeText(earlier)}" (field names are case-insensitive)` });
    else seen.set(lower, key);
  }
  for (const [lower, schema] of Object.entries(KNOWN_FIELDS)) {
    const key = seen.get(lower);
    if (key === undefined) {
      if (REQUIRED.has(lower)) errors.push({ pointer: `/${SPELLING[lower] ?? lower}`, detail: 'is required' });
      continue;
    }
    const result = schema.safeParse(record[key]);
    if (!result.success) {
      for (const issue of result.error.issues) {
        errors.push({ pointer: `/${[key, ...issue.path.map(String)].map(escapePointer).join('/')}`, detail: issue.message });
      }
    }
  }
  if (errors.length > 0) throw new InvalidRequest('The payment request has invalid fields', errors);
  return record;
}

/** Deeper JSON than any payment needs; it would also overflow the stack of every recursive serialiser. */
const MAX_DEPTH = 32;

/** How deeply arrays and objects nest in `value`, measured without recursion (the input is hostile). */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, depth] = next;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_DEPTH) return deepest;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return deepest;
}

/** RFC 6901 escaping for a JSON pointer segment. */
function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Field names are caller input: keep them short in our messages. */
function escapeText(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}
