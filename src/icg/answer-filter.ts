import { isAccountNumberKey, isVerificationCodeKey, lastFour, withoutSeparators, type SensitiveValues } from '../cardholder-data';

/**
 * The fields of iCG's answers this service relays and stores: the ProcessResponse model iCG documents
 * (ICG.md) and the error bodies ASP.NET Web API answers 4xx with. RawRequest and RawResponse are left
 * out on purpose: they may echo the customer's card number and CVV. EMV fields are not named in iCG's
 * docs; an operator who needs them lists them in ICG_RESPONSE_EXTRA_FIELDS.
 */
export const DOCUMENTED_ANSWER_FIELDS: readonly string[] = [
  'TransactionId',
  'Status',
  'StatusMessage',
  'ConfirmationCode',
  'ApprovalCode',
  'TransactionAmount',
  'TransactionDate',
  'CardDisplay',
  'CardType',
  'CvcResponse',
  'AvsResponse',
  'ReferenceNumber',
  'ErrorData',
  'ExtraData',
  // ASP.NET Web API error bodies (`{"Message": ...}`, model validation) and OAuth-style errors.
  'Message',
  'MessageDetail',
  'ModelState',
  'Errors',
  'error',
  'error_description',
];

/** Deeper than any answer iCG documents; anything below is dropped, not walked. */
const MAX_DEPTH = 16;
/** Leaves kept at most, and the longest text kept: an answer is a receipt, not a bulk transfer (a huge echo stalls the event loop). */
const MAX_LEAVES = 1000;
const MAX_TEXT_LENGTH = 4096;

/** A trie of allowed paths (lower-case segments); `all` admits the whole subtree, leaf by leaf. */
interface AllowNode {
  all: boolean;
  readonly children: Map<string, AllowNode>;
}

function allowTree(paths: readonly string[]): AllowNode {
  const root: AllowNode = { all: false, children: new Map() };
  for (const path of paths) {
    let node = root;
    for (const segment of path.toLowerCase().split('.')) {
      let child = node.children.get(segment);
      if (!child) {
        child = { all: false, children: new Map() };
        node.children.set(segment, child);
      }
      node = child;
    }
    node.all = true;
  }
  return root;
}

/** One filtering pass: what the request carried, and how many leaves are left to keep. */
interface Pass {
  readonly sensitive: SensitiveValues;
  leavesLeft: number;
}

/**
 * Filters iCG's JSON answers down to an allow-list of fields (matched case-insensitively, as iCG binds
 * them), walking nested objects leaf by leaf. Every kept leaf is scrubbed: verification codes dropped
 * (by field name, or by value when the request carried that code), account numbers under an
 * account-number field masked to the last four, card numbers masked anywhere, codes and account
 * numbers written after their names in free text scrubbed, and any number the request carried masked
 * wherever it is echoed. What comes out is safe to relay, store and log.
 */
export class AnswerFilter {
  readonly #allowed: AllowNode;

  /**
   * `extraFields`: dotted paths (e.g. `EmvData` or `ExtraData.Terminal`) an operator adds to the
   * documented ones. `scalarsOnly`: keep top-level values only, no nested objects (for answers whose
   * request is not known, such as records an earlier version stored).
   */
  constructor(
    extraFields: readonly string[] = [],
    private readonly scalarsOnly = false,
  ) {
    this.#allowed = allowTree([...DOCUMENTED_ANSWER_FIELDS, ...extraFields]);
  }

  /** The allowed, scrubbed part of `body`; an answer that is not a JSON object has no documented field, so it becomes null (no body). */
  filter(body: unknown, sensitive: SensitiveValues): Record<string, unknown> | null {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
    return this.#object(body as Record<string, unknown>, '', this.#allowed, { sensitive, leavesLeft: MAX_LEAVES }, 0);
  }

  /** `name`: the object's own field name (its number field may be an account number). */
  #object(value: Record<string, unknown>, name: string, node: AllowNode, pass: Pass, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const next = node.all ? node : node.children.get(key.toLowerCase());
      if (!next || isVerificationCodeKey(key)) continue;
      const kept = this.#value(child, { key, parent: name }, next, pass, depth + 1);
      if (kept !== undefined) out[pass.sensitive.scrub(key)] = kept;
    }
    return out;
  }

  /** A kept value, or undefined to drop it. */
  #value(value: unknown, field: Field, node: AllowNode, pass: Pass, depth: number): unknown {
    if (depth > MAX_DEPTH) return undefined;
    if (typeof value === 'object' && value !== null) {
      if (this.scalarsOnly) return undefined;
      if (!Array.isArray(value)) return this.#object(value as Record<string, unknown>, field.key, node, pass, depth);
      if (!node.all) return undefined;
      return value.map((item: unknown) => this.#value(item, field, node, pass, depth + 1)).filter((item) => item !== undefined);
    }
    if (pass.leavesLeft <= 0) return undefined;
    pass.leavesLeft -= 1;
    if (value === null || typeof value === 'boolean') return value;
    if (depth === 1 && REFERENCE_FIELDS.has(field.key.toLowerCase())) return scrubReference(value, pass.sensitive);
    // A nested number equal to the request's verification code is an echo of it; a top-level amount is not.
    if (typeof value === 'number') return depth > 1 && pass.sensitive.isVerificationCode(value) ? undefined : scrubNumber(value, field, pass.sensitive);
    if (typeof value === 'string') return scrubString(value.length > MAX_TEXT_LENGTH ? `${value.slice(0, MAX_TEXT_LENGTH)}…` : value, field, pass.sensitive);
    return undefined;
  }
}

/**
 * iCG's own references for a payment: what support and reconciliation look it up by. A long one may
 * pass the Luhn check by chance, so only what the request carried is masked in them.
 */
const REFERENCE_FIELDS = new Set(['transactionid', 'confirmationcode', 'approvalcode', 'referencenumber']);

/** A leaf's field name and the name of the object holding it. */
interface Field {
  readonly key: string;
  readonly parent: string;
}

function scrubReference(value: unknown, sensitive: SensitiveValues): unknown {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  if (sensitive.isVerificationCode(value)) return undefined;
  const text = String(value).slice(0, MAX_TEXT_LENGTH);
  const scrubbed = sensitive.scrubEchoes(text);
  return scrubbed === String(value) ? value : scrubbed;
}

function scrubString(value: string, field: Field, sensitive: SensitiveValues): string | undefined {
  if (sensitive.isVerificationCode(value)) return undefined;
  const digits = withoutSeparators(value);
  if (isAccountNumberKey(field.key, field.parent) && /^\d{5,34}$/.test(digits)) return lastFour(digits);
  return sensitive.scrub(value);
}

/** A number that is (or echoes) cardholder data becomes its masked text; any other number is kept as it is. */
function scrubNumber(value: number, field: Field, sensitive: SensitiveValues): number | string {
  if (!Number.isInteger(value) || value < 10_000) return value;
  const digits = String(value);
  if (isAccountNumberKey(field.key, field.parent)) return lastFour(digits);
  const scrubbed = sensitive.scrub(digits);
  return scrubbed === digits ? value : scrubbed;
}
