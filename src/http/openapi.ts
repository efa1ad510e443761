import { Router } from 'express';
import { PROBLEM_TYPE_BASE } from '../answer';
import { SETTINGS, type Setting } from '../config/settings';
import { PROBLEMS } from '../errors';
import { DOCUMENTED_ANSWER_FIELDS } from '../icg/answer-filter';
import { IDEMPOTENCY_KEY_PATTERN } from '../pay/idempotency-key';
import { INVOICE_ID_PATTERN, MAX_NUMERIC_INVOICE_ID } from '../pay/invoice-id';
import { OUTCOMES } from '../pay/journal';
import { chargedAnswer } from '../pay/reconcile';
import { REQUEST_ID_PATTERN } from './request-id';
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS } from './security';

/**
 * The service's contract as OpenAPI 3.1: the public API (/pay, health, readiness, metrics, this
 * document) and the admin API on its own listener. Every fact that lives in code is read from there:
 * the patterns and bounds, the problem types (errors.ts PROBLEMS), the relayed answer fields
 * (answer-filter.ts), the journal outcomes and the setting defaults. Kept true by
 * test/integration/openapi.test.ts (real answers checked against it), by `npm run lint:openapi`
 * (Redocly's recommended rules, warnings included) and by a typed client generated from it
 * (test/contract).
 */

type Json = { readonly [key: string]: unknown };

const ref = (path: string): Json => ({ $ref: `#/components/${path}` });
const schemaRef = (name: string): Json => ref(`schemas/${name}`);

/** A setting's default as the service reads it (e.g. PORT's `'8080'` as 8080). */
function defaultOf<T>(setting: Setting<T>): T {
  return setting.type.parse(setting.default);
}

const PUBLIC_PORT = defaultOf(SETTINGS.port);
const ADMIN_HOST = defaultOf(SETTINGS.admin.host);
const ADMIN_PORT = defaultOf(SETTINGS.admin.port).port;
const BODY_LIMIT_BYTES = defaultOf(SETTINGS.http.bodyLimitBytes);
const CLIENT_MAX = defaultOf(SETTINGS.rateLimit.clientMax);
const CLIENT_WINDOW_SECONDS = defaultOf(SETTINGS.rateLimit.clientWindowMs) / 1000;
const CLIENT_BUDGET = `${String(CLIENT_MAX)} per ${String(CLIENT_WINDOW_SECONDS)} s`;
const INVOICE_BUDGET = `${String(defaultOf(SETTINGS.rateLimit.invoiceMax))} per ${String(defaultOf(SETTINGS.rateLimit.invoiceWindowMs) / 1000)} s`;
const IDEMPOTENCY_TTL_SECONDS = defaultOf(SETTINGS.idempotency.ttlSeconds);

// --- problems ------------------------------------------------------------------------------------

/** Every problem type the service answers with: one per error class (errors.ts PROBLEMS). */
const PROBLEM_TYPES = [...new Set(PROBLEMS.map((problem) => `${PROBLEM_TYPE_BASE}${problem.slug}`))];
const PROBLEM_STATUSES = [...new Set(PROBLEMS.map((problem) => problem.status))].sort((a, b) => a - b);

/** A markdown list of the problem types an answer may carry; each must be one PROBLEMS lists with that status. */
function problemList(status: number, slugs: readonly string[]): string {
  return slugs
    .map((slug) => {
      const problem = PROBLEMS.find((candidate) => candidate.slug === slug && candidate.status === status);
      if (!problem) throw new Error(`openapi.ts cites the problem ${String(status)} ${slug}, which errors.ts PROBLEMS does not list`);
      return `- \`${slug}\`: ${problem.title}.`;
    })
    .join('\n');
}

const problemTable = [
  '| Status | `type` | Title |',
  '| --- | --- | --- |',
  ...PROBLEMS.map((problem) => `| ${String(problem.status)} | \`${PROBLEM_TYPE_BASE}${problem.slug}\` | ${problem.title} |`),
].join('\n');

// --- headers -------------------------------------------------------------------------------------

const HEADERS = {
  'X-Request-Id': {
    description:
      "The request id: the caller's `X-Request-Id` when well-formed, else a generated UUID. Also in problem bodies (`requestId`) and in every log line.",
    schema: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
  },
  'Idempotent-Replayed': {
    description:
      '`true` when this answer is the stored answer of an earlier request with the same Idempotency-Key (nothing was sent to iCG this time). Any stored answer can be replayed: 2xx, iCG 4xx relayed, and 502/504 `outcome-unknown`.',
    schema: { type: 'string', enum: ['true'] },
  },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
  RateLimit: {
    description: `IETF RateLimit (draft 8) for each budget this request spent: \`"per-client"; r=${String(CLIENT_MAX - 1)}; t=${String(CLIENT_WINDOW_SECONDS)}\`, and \`"per-invoice"; …\` once the pay reached the invoice budget (list members separated by commas). Defaults: ${CLIENT_BUDGET} per client, ${INVOICE_BUDGET} per invoice.`,
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: `IETF RateLimit-Policy (draft 8) for the same budgets, e.g. \`"per-client"; q=${String(CLIENT_MAX)}; w=${String(CLIENT_WINDOW_SECONDS)}; pk=:…:\`.`,
    schema: { type: 'string' },
  },
  Allow: { description: 'The methods this path serves.', schema: { type: 'string', enum: ['POST, OPTIONS'] } },
  'WWW-Authenticate': { description: 'The bearer challenge, e.g. `Bearer realm="admin"`.', schema: { type: 'string' } },
  'Access-Control-Allow-Origin': {
    description: "The caller's `Origin`, when it is on `CORS_ORIGINS` (absent for same-origin pages and clients without `Origin`).",
    schema: { type: 'string' },
  },
  'Access-Control-Expose-Headers': {
    description: 'The response headers a page on a listed origin may read.',
    schema: { type: 'string', enum: [CORS_EXPOSED_HEADERS] },
  },
  'Access-Control-Allow-Methods': { description: 'The methods a page may use.', schema: { type: 'string', enum: ['POST'] } },
  'Access-Control-Allow-Headers': { description: 'The request headers a page may send.', schema: { type: 'string', enum: [CORS_ALLOWED_HEADERS] } },
  'Access-Control-Max-Age': { description: 'Seconds a browser may cache this preflight.', schema: { type: 'integer', enum: [600] } },
} as const satisfies Record<string, { readonly description: string; readonly schema: Json }>;

type HeaderName = keyof typeof HEADERS;

/** Response headers: `always` are on every answer with this status, `sometimes` on some (each description says when). */
function headers(always: readonly HeaderName[], sometimes: readonly HeaderName[] = []): Json {
  const entries: [string, Json][] = [
    ...always.map((name): [string, Json] => [name, { ...HEADERS[name], required: true }]),
    ...sometimes.map((name): [string, Json] => [name, HEADERS[name]]),
  ];
  return Object.fromEntries(entries);
}

const LIMITS = ['RateLimit', 'RateLimit-Policy'] as const;
const CORS = ['Access-Control-Allow-Origin', 'Access-Control-Expose-Headers'] as const;

// --- responses -----------------------------------------------------------------------------------

const problemContent = (schema = 'Problem'): Json => ({ 'application/problem+json': { schema: schemaRef(schema) } });
/** iCG's own 4xx answer, relayed with its status: JSON, not a problem. */
const relayedContent: Json = { 'application/json': { schema: schemaRef('IcgError') } };

const RELAYED_NOTE = "Or iCG's own answer with this status, relayed as `application/json` (filtered to its documented fields; possibly without a body).";

/**
 * A 4xx of POST /pay: this service's problem, or iCG's answer with the same status relayed. Relayed
 * answers passed the per-client budget (RateLimit) and may be replays.
 */
function payClientError(description: string, always: readonly HeaderName[], sometimes: readonly HeaderName[], schema = 'Problem'): Json {
  return {
    description: `${description}\n\n${RELAYED_NOTE}`,
    headers: headers(['X-Request-Id', ...always], [...sometimes, 'Idempotent-Replayed', ...CORS]),
    content: { ...problemContent(schema), ...relayedContent },
  };
}

/** A problem answer of this service (never a relay). */
function problem(description: string, always: readonly HeaderName[] = [], sometimes: readonly HeaderName[] = [], schema = 'Problem'): Json {
  return { description, headers: headers(['X-Request-Id', ...always], sometimes), content: problemContent(schema) };
}

const json = (schema: string): Json => ({ 'application/json': { schema: schemaRef(schema) } });

/** The answers any request can get, whatever its path: Node refuses it before routing, or a bug. */
const ANY_REQUEST = {
  '408': ref('responses/RequestTimeout'),
  '431': ref('responses/HeadersTooLarge'),
  '500': ref('responses/InternalError'),
} as const;

const REQUEST_TIMEOUT_TEXT = `The request did not arrive in time (its headers, or the whole request).\n\n${problemList(408, ['request-timeout'])}\n\nAnswered by Node before any route runs; the connection is closed.`;
const HEADERS_TOO_LARGE_TEXT = `The request headers are over Node's limit.\n\n${problemList(431, ['headers-too-large'])}\n\nAnswered before any route runs; the connection is closed.`;
const INTERNAL_ERROR_TEXT = `A bug or an unforeseen failure; logged with its stack under the request id.\n\n${problemList(500, ['internal-error'])}`;

// --- schemas -------------------------------------------------------------------------------------

const nullable = (type: string, extra: Json = {}): Json => ({ type: [type, 'null'], ...extra });

/** What is known of each relayed answer field's type; a field not named here is relayed as iCG sent it. */
const ANSWER_FIELD_SCHEMAS: Readonly<Record<string, Json>> = {
  TransactionId: nullable('string', { description: "iCG's id of the transaction: quote it when reconciling." }),
  Status: nullable('string', {
    description: 'e.g. `Approved`, `Declined`. iCG does not document its values; the service reads them through `ICG_STATUS_APPROVED` / `ICG_STATUS_DECLINED`.',
    examples: ['Approved', 'Declined'],
  }),
  StatusMessage: nullable('string'),
  ConfirmationCode: nullable('string'),
  ApprovalCode: nullable('string'),
  TransactionAmount: nullable('number'),
  TransactionDate: nullable('string'),
  CardDisplay: nullable('string', { description: 'The card or account number masked to its last four digits.' }),
  CardType: nullable('string'),
  CvcResponse: nullable('string'),
  AvsResponse: nullable('string'),
  ReferenceNumber: nullable('string'),
  ErrorData: { description: 'Why a pay was declined, as iCG says it (shape not documented).' },
  ExtraData: { description: 'Shape not documented by iCG.' },
  Message: nullable('string', { description: "An ASP.NET Web API error message (iCG's 4xx bodies)." }),
  MessageDetail: nullable('string'),
  ModelState: { description: 'ASP.NET model-validation errors: field name to messages.', type: ['object', 'null'], additionalProperties: true },
  Errors: { description: 'Validation errors, as iCG sends them.' },
  error: nullable('string', { description: 'OAuth-style error code.' }),
  error_description: nullable('string'),
};

/** Fields of the answer a key replays once an operator confirmed its unknown outcome charged (reconcile.ts). */
const RECONCILED_FIELDS = Object.keys(chargedAnswer('').body as Json).filter((field) => !DOCUMENTED_ANSWER_FIELDS.includes(field));

const ANSWER_FIELDS_DOC = `Only these fields of iCG's answer are relayed (matched in any letter case, nested values included), plus those an operator lists in \`ICG_RESPONSE_EXTRA_FIELDS\`; \`RawRequest\`/\`RawResponse\` never are. Card numbers, account numbers and verification codes are masked or dropped wherever they appear.`;

const pattern = (regex: RegExp): string => regex.source;

const invoiceIdDescription = [
  `The iCG invoice number: 1-64 letters, digits, \`-\` or \`_\`. An all-digit id is at most ${String(MAX_NUMERIC_INVOICE_ID)} (iCG's SDK declares the invoice id a 32-bit integer; anything larger is refused with 400). A negative all-digit id is refused too. An id holding a card number (a run of 15 or more digits with a Luhn-valid stretch, a card number in its printed groups, or digit groups joined by \`-\` or \`_\` that make a card number of a known brand), a GUID included, is refused with 400: invoice ids are logged and stored. About one random GUID in two thousand is refused; send GUIDs with their hyphens (without them, about one in four hundred is).`,
  '',
  '**One invoice, one id**: iCG binds the id as an integer and GUIDs case-insensitively, so `962`, `0962` and `00962` are the same invoice, as are a GUID in any letter case, with or without hyphens. Locks, budgets, holds and Idempotency-Key fingerprints use that canonical form (leading zeros dropped; GUIDs lower case with hyphens); the id is forwarded to iCG as sent.',
].join('\n');

// --- the document --------------------------------------------------------------------------------

/** Relative: wherever this document was fetched from. */
const PUBLIC_SERVERS = [{ url: '/', description: `The instance that served this document (port \`PORT\`, ${String(PUBLIC_PORT)} by default).` }];
const ADMIN_SERVER = {
  url: 'http://{host}:{port}',
  description: 'The admin listener (`ADMIN_HOST`:`ADMIN_PORT`): loopback by default, never exposed publicly.',
  variables: { host: { default: ADMIN_HOST }, port: { default: String(ADMIN_PORT) } },
};

export const openApiDocument: Json = {
  openapi: '3.1.0',
  info: {
    title: 'icg-bff',
    version: '0.1.0',
    license: { name: 'MIT', identifier: 'MIT' },
    description: [
      "Pays iCheckGateway (iCG) invoices on behalf of a merchant. The service holds the merchant's iCG credentials and token; callers never see them.",
      '',
      "- **Who calls it**: the merchant's checkout page on the same origin (or an origin on `CORS_ORIGINS`), mobile apps and servers (no `Origin` header).",
      `- **Idempotency**: send a fresh \`Idempotency-Key\` per payment attempt and the same key when retrying it. A retry replays the first answer (\`Idempotent-Replayed: true\`) for ${String(IDEMPOTENCY_TTL_SECONDS)} s by default and never charges twice.`,
      '- **Unknown outcomes**: a 502 or 504 `outcome-unknown` means the pay reached iCG and may have charged. Retry only with the same key (it replays the same answer until an operator resolves it); the invoice is held (409 `invoice-held`) meanwhile.',
      `- **Limits**: a per-client (${CLIENT_BUDGET} by default) and a stricter per-invoice budget (${INVOICE_BUDGET}); every answer past the per-client check carries the IETF \`RateLimit\` / \`RateLimit-Policy\` headers, and \`429\` carries \`Retry-After\`.`,
      "- **Errors**: every error this service answers itself is `application/problem+json` (RFC 9457) with a `requestId` matching the `X-Request-Id` response header; iCG's own 4xx answers are relayed with their status as `application/json`. See `Problem.type` for every problem type.",
      "- **Headers**: besides those documented per answer, every answer carries helmet's security headers (CSP, HSTS, `X-Content-Type-Options`, …).",
      '- **Not described here**: the demo checkout page (`/checkout`, when `CHECKOUT_PAGE` is on); any other path answers 404 `not-found`.',
      `- **Admin API**: \`/admin/…\` and \`/metrics\` are served on a separate listener (${ADMIN_HOST}:${String(ADMIN_PORT)} by default) with a bearer token.`,
    ].join('\n'),
  },
  servers: PUBLIC_SERVERS,
  tags: [
    { name: 'Payments', description: 'Paying an invoice through iCG.' },
    { name: 'Operations', description: 'Health, readiness, metrics and this document.' },
    {
      name: 'Admin',
      description:
        'The payment journal, for operators reconciling unknown outcomes. Served only on the admin listener, only when `ADMIN_TOKEN` is set (else 404), with `Authorization: Bearer <ADMIN_TOKEN>`.',
    },
  ],
  paths: {
    '/pay/{invoiceId}': {
      parameters: [ref('parameters/InvoiceId')],
      post: {
        operationId: 'payInvoice',
        tags: ['Payments'],
        summary: 'Pay an invoice through iCG',
        description: [
          "Forwards the body (as received, byte for byte) to iCG `POST /Invoices/{id}/Pay` with the merchant's token and relays iCG's status and JSON body, filtered to its documented fields. A declined card is a 200 whose `Status` says so. iCG's 4xx answers (other than 401) are relayed with their status as `application/json`; iCG's 5xx answers and failures become this service's problems.",
          '',
          "Checks, in order (nothing reaches iCG when one fails): the origin (403), the invoice id (400), the per-client budget (429), the media type (415) and size (413), the body and the Idempotency-Key's format (400), a pause after the shared store lost data (503), the key's earlier use (a replay, 409 or 422), the invoice budget (429), the invoice's lock and hold (409), a token (502, 503, 504).",
        ].join('\n'),
        security: [],
        parameters: [ref('parameters/IdempotencyKey'), ref('parameters/RequestId')],
        requestBody: {
          required: true,
          description: `\`application/json\` only (UTF-8, uncompressed), at most ${String(BODY_LIMIT_BYTES)} bytes by default (\`BODY_LIMIT_BYTES\`).`,
          content: {
            'application/json': {
              schema: schemaRef('PayRequest'),
              examples: {
                card: {
                  summary: 'A card (a sandbox test card)',
                  value: { Amount: 12.5, Type: 'D', Description: 'Order 1001', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } },
                },
                bankAccount: {
                  summary: 'A bank account (ACH; a sandbox test account)',
                  value: { Amount: 12.5, Type: 'D', Description: 'Order 1002', Method: { RoutingNumber: '083000056', AccountNumber: '446674336' } },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description:
              "iCG's answer: approved or declined (see `Status`). An answer iCG sent without a JSON object body is relayed with the same status and no body.",
            headers: headers(['X-Request-Id', ...LIMITS], ['Idempotent-Replayed', ...CORS]),
            content: {
              'application/json': {
                schema: schemaRef('PayResponse'),
                example: {
                  TransactionId: '5b0f2a4e-8d1c-4f5e-9a7b-3c2d1e0f9a8b',
                  Status: 'Approved',
                  StatusMessage: 'Approved',
                  ConfirmationCode: 'A1B2C3D4E5',
                  ApprovalCode: '123456',
                  TransactionAmount: 12.5,
                  TransactionDate: '2026-01-15T10:30:00.000Z',
                  CardDisplay: 'XXXXXXXXXXXX1111',
                  CardType: 'Visa',
                  ReferenceNumber: '112',
                },
              },
            },
          },
          '204': {
            description: 'iCG answered 204 (no body).',
            headers: headers(['X-Request-Id', ...LIMITS], ['Idempotent-Replayed', ...CORS]),
          },
          '400': payClientError(
            `The invoice id, the body or the Idempotency-Key is invalid, or the request is not valid HTTP/1.1; nothing reached iCG. \`errors\` points at each problem.\n\n${problemList(400, ['invalid-request'])}\n\nA bad invoice id is refused before the per-client budget is spent (no RateLimit headers).`,
            [],
            [...LIMITS],
            'ValidationProblem',
          ),
          '403': payClientError(
            `A browser page on an origin that is neither this service's nor on \`CORS_ORIGINS\`; nothing reached iCG.\n\n${problemList(403, ['origin-rejected'])}`,
            [],
            [...LIMITS],
          ),
          '405': payClientError(`Use POST (this service's answer carries \`Allow\`).\n\n${problemList(405, ['method-not-allowed'])}`, [], ['Allow', ...LIMITS]),
          '408': payClientError(REQUEST_TIMEOUT_TEXT, [], [...LIMITS]),
          '409': payClientError(
            [
              'Another attempt at this payment is not finished, or may have charged; nothing reached iCG. Wait `Retry-After` seconds.',
              '',
              problemList(409, ['in-flight-conflict', 'invoice-held']),
              '',
              "`invoice-held`: an earlier pay of this invoice ended with an unknown outcome. Pays of the invoice without that attempt's Idempotency-Key are refused until the hold ends (`UNKNOWN_OUTCOME_HOLD_MS`) or an operator resolves it; retrying with the original key replays its answer.",
            ].join('\n'),
            [...LIMITS],
            ['Retry-After'],
          ),
          '413': payClientError(
            `The body is larger than \`BODY_LIMIT_BYTES\` (${String(BODY_LIMIT_BYTES)} by default).\n\n${problemList(413, ['payload-too-large'])}`,
            [...LIMITS],
            [],
          ),
          '415': payClientError(`The body is not uncompressed UTF-8 \`application/json\`.\n\n${problemList(415, ['unsupported-media-type'])}`, [...LIMITS], []),
          '422': payClientError(
            `This Idempotency-Key was used before for another invoice or body; use a new key for a new payment.\n\n${problemList(422, ['idempotency-key-reused'])}`,
            [...LIMITS],
            [],
          ),
          '429': payClientError(
            `Too many attempts from this client, or for this invoice (card testing). Wait \`Retry-After\` seconds.\n\n${problemList(429, ['rate-limited'])}`,
            [...LIMITS],
            ['Retry-After'],
          ),
          '431': payClientError(HEADERS_TOO_LARGE_TEXT, [], [...LIMITS]),
          '500': problem(INTERNAL_ERROR_TEXT, [], [...LIMITS, ...CORS]),
          '502': problem(
            [
              'iCG failed.',
              '',
              problemList(502, ['upstream-unavailable', 'outcome-unknown']),
              '',
              '- `upstream-unavailable`: iCG could not be reached, or a login failed, before the pay was sent: **nothing was charged**; retry (with the same key) after `Retry-After` when given.',
              '- `outcome-unknown`: the pay reached iCG, which answered 5xx, a redirect or something unreadable. **The card may have been charged.** Do not pay again with a new key: a retry with the same Idempotency-Key replays this answer (`Idempotent-Replayed: true`) until an operator resolves it (then it replays the resolution: an approval, or the key is freed).',
            ].join('\n'),
            [...LIMITS],
            ['Retry-After', 'Idempotent-Replayed', ...CORS],
          ),
          '503': problem(
            [
              'This service cannot take the pay right now; **nothing was charged**. Retry after `Retry-After` seconds (with the same key).',
              '',
              problemList(503, ['service-unavailable', 'redis-data-lost', 'upstream-rejected', 'token-refused']),
            ].join('\n'),
            ['Retry-After'],
            [...LIMITS, ...CORS],
          ),
          '504': problem(
            [
              'iCG did not answer in time.',
              '',
              problemList(504, ['upstream-timeout', 'outcome-unknown']),
              '',
              '- `upstream-timeout`: no token in time, or no time left to send the pay: **nothing was sent**.',
              '- `outcome-unknown`: the pay was sent and iCG did not answer within `ICG_TIMEOUT_MS`. **The outcome is unknown: it may have charged.** A retry with the same Idempotency-Key replays this answer (`Idempotent-Replayed: true`) until an operator resolves it; the invoice is held meanwhile.',
            ].join('\n'),
            [...LIMITS],
            ['Retry-After', 'Idempotent-Replayed', ...CORS],
          ),
          default: {
            description:
              "`application/json`: iCG's own answer with another status (a 4xx other than 401, e.g. 404, or another 2xx), relayed with its status, filtered to its documented fields, possibly without a body. `application/problem+json`: a problem of this service (its `type` says which).",
            headers: headers(['X-Request-Id'], [...LIMITS, 'Idempotent-Replayed', ...CORS]),
            content: { ...relayedContent, ...problemContent() },
          },
        },
      },
      options: {
        operationId: 'payInvoicePreflight',
        tags: ['Payments'],
        summary: 'CORS preflight',
        description: 'What a browser sends before a cross-origin POST. The invoice id is not checked here.',
        security: [],
        responses: {
          '204': {
            description: 'Allowed: a same-origin page, a client without `Origin`, or an origin on `CORS_ORIGINS` (which gets `Access-Control-Allow-Origin`).',
            headers: headers(['X-Request-Id', 'Allow', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers', 'Access-Control-Max-Age'], [...CORS]),
          },
          '403': problem(`The origin is not allowed.\n\n${problemList(403, ['origin-rejected'])}`),
          ...ANY_REQUEST,
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'liveness',
        tags: ['Operations'],
        summary: 'Liveness: the process serves',
        description: 'Always 200 while the process serves: a restart would not fix Redis or iCG.',
        security: [],
        responses: {
          '200': { description: 'Alive.', headers: headers(['X-Request-Id']), content: json('Health') },
          ...ANY_REQUEST,
        },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readiness',
        tags: ['Operations'],
        summary: 'Readiness: 503 only while this instance drains',
        description:
          'For load balancers. Shared dependencies (Redis, iCG, the credentials) fail on every instance at once, so they never take an instance out of rotation: they show as `degraded` with the checks as detail (and in metrics and alerts). Only what is local to this instance answers 503: it is draining for shutdown.',
        security: [],
        responses: {
          '200': {
            description: '`ready`, or `degraded` (a shared dependency is down: see the checks). Keep the instance in rotation.',
            headers: headers(['X-Request-Id']),
            content: json('Readiness'),
          },
          '503': {
            description: '`draining`: this instance is shutting down (after SIGTERM): take it out of rotation.',
            headers: headers(['X-Request-Id']),
            content: json('Readiness'),
          },
          ...ANY_REQUEST,
        },
      },
    },
    '/metrics': {
      servers: [...PUBLIC_SERVERS, ADMIN_SERVER],
      get: {
        operationId: 'metrics',
        tags: ['Operations'],
        summary: 'Prometheus metrics',
        description:
          'On the admin listener always; on the public port outside production, or in production only when `METRICS_TOKEN` is set. With `METRICS_TOKEN` set, a bearer token is required on both.',
        security: [{}, { metricsBearer: [] }],
        responses: {
          '200': {
            description: 'Prometheus text exposition format.',
            headers: headers(['X-Request-Id']),
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          '401': problem(`\`METRICS_TOKEN\` is set and the bearer token is missing or wrong.\n\n${problemList(401, ['unauthorized'])}`, ['WWW-Authenticate']),
          '404': problem(`The public port in production without \`METRICS_TOKEN\`: use the admin listener.\n\n${problemList(404, ['not-found'])}`),
          ...ANY_REQUEST,
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openApi',
        tags: ['Operations'],
        summary: 'This document',
        security: [],
        responses: {
          '200': {
            description: 'The OpenAPI document.',
            headers: headers(['X-Request-Id']),
            content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
          },
          ...ANY_REQUEST,
        },
      },
    },
    '/admin/payments': {
      servers: [ADMIN_SERVER],
      get: {
        operationId: 'listPayments',
        tags: ['Admin'],
        summary: 'List journalled payments',
        description:
          'Newest first. `unresolved=true` finds every unknown outcome no operator has resolved, whatever its age; the other filters scan the recent journal.',
        security: [{ adminBearer: [] }],
        parameters: [
          {
            name: 'outcome',
            in: 'query',
            description: 'Only payments with this outcome.',
            schema: { type: 'string', enum: [...OUTCOMES] },
          },
          {
            name: 'since',
            in: 'query',
            description: 'Only payments started since: `45s`, `30m`, `1h`, `2d` ago, or an ISO 8601 time.',
            schema: { type: 'string' },
            example: '1h',
          },
          {
            name: 'invoice',
            in: 'query',
            description: 'Only payments of this invoice (any spelling of it: compared canonically).',
            schema: { type: 'string' },
          },
          {
            name: 'unresolved',
            in: 'query',
            description: '`true`: only unknown outcomes not yet resolved.',
            schema: { type: 'string', enum: ['true', 'false'] },
          },
          { name: 'limit', in: 'query', description: 'At most this many (default 100).', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
        ],
        responses: {
          '200': { description: 'The matching journal entries.', headers: headers(['X-Request-Id']), content: json('PaymentList') },
          '400': problem(`A query parameter is invalid; \`errors\` points at it.\n\n${problemList(400, ['invalid-request'])}`, [], [], 'ValidationProblem'),
          '401': ref('responses/AdminUnauthorized'),
          '404': ref('responses/AdminNotFound'),
          ...ANY_REQUEST,
        },
      },
    },
    '/admin/payments/{id}': {
      servers: [ADMIN_SERVER],
      parameters: [ref('parameters/PaymentId')],
      get: {
        operationId: 'getPayment',
        tags: ['Admin'],
        summary: 'One journalled payment',
        security: [{ adminBearer: [] }],
        responses: {
          '200': { description: 'The journal entry.', headers: headers(['X-Request-Id']), content: json('JournalEntry') },
          '401': ref('responses/AdminUnauthorized'),
          '404': ref('responses/AdminNotFound'),
          ...ANY_REQUEST,
        },
      },
    },
    '/admin/payments/{id}/resolution': {
      servers: [ADMIN_SERVER],
      parameters: [ref('parameters/PaymentId')],
      post: {
        operationId: 'resolvePayment',
        tags: ['Admin'],
        summary: 'Resolve an unknown outcome',
        description:
          "After checking iCG's portal or reports (iCG offers no status lookup): appends the resolution to the journal entry, ends the invoice's hold, and rewrites what the payment's Idempotency-Key replays (`charged`: an approval quoting the reference; `not_charged`: the key is freed, so a retry with it pays). Repeating the same resolution changes nothing.",
        security: [{ adminBearer: [] }],
        requestBody: {
          required: true,
          description: '`application/json`, at most 4096 bytes.',
          content: {
            'application/json': {
              schema: schemaRef('ResolutionRequest'),
              example: { resolution: 'charged', reference: 'ICG-TX-42', resolvedBy: 'alice' },
            },
          },
        },
        responses: {
          '200': { description: 'The resolved journal entry.', headers: headers(['X-Request-Id']), content: json('JournalEntry') },
          '400': problem(
            `The resolution is invalid; \`errors\` points at each problem.\n\n${problemList(400, ['invalid-request'])}`,
            [],
            [],
            'ValidationProblem',
          ),
          '401': ref('responses/AdminUnauthorized'),
          '404': ref('responses/AdminNotFound'),
          '409': problem(
            `The payment's outcome is known (only unknown outcomes, or pays still pending long after their deadline, are resolved), or it was already resolved otherwise.\n\n${problemList(409, ['payment-not-resolvable'])}`,
          ),
          '413': problem(`The body is larger than 4096 bytes.\n\n${problemList(413, ['payload-too-large'])}`),
          '415': problem(`The body's charset or content encoding is not supported.\n\n${problemList(415, ['unsupported-media-type'])}`),
          ...ANY_REQUEST,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      adminBearer: {
        type: 'http',
        scheme: 'bearer',
        description: '`Authorization: Bearer <ADMIN_TOKEN>`. Without `ADMIN_TOKEN` configured the admin API does not exist (404).',
      },
      metricsBearer: { type: 'http', scheme: 'bearer', description: '`Authorization: Bearer <METRICS_TOKEN>`, only when `METRICS_TOKEN` is set.' },
    },
    parameters: {
      InvoiceId: {
        name: 'invoiceId',
        in: 'path',
        required: true,
        description: invoiceIdDescription,
        schema: { type: 'string', pattern: pattern(INVOICE_ID_PATTERN) },
        example: '112',
      },
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: `A new random value (e.g. a UUID) per payment attempt; the same value when retrying that attempt. The first final answer is kept ${String(IDEMPOTENCY_TTL_SECONDS)} s by default (\`IDEMPOTENCY_TTL_SECONDS\`) and replayed to any retry with the same key, invoice and body. Without a key a retry is a new payment (the invoice lock and hold still guard against double charges). Requests with a key are refused (503) while the shared store is down.`,
        schema: { type: 'string', pattern: pattern(IDEMPOTENCY_KEY_PATTERN) },
        example: '3f2c6a51-8a0e-4d47-9f43-0d7f8a6a2b11',
      },
      RequestId: {
        name: 'X-Request-Id',
        in: 'header',
        required: false,
        description: 'Kept when well-formed (and not possibly a card number), else replaced; forwarded to iCG and echoed in the answer.',
        schema: { type: 'string', pattern: pattern(REQUEST_ID_PATTERN) },
      },
      PaymentId: {
        name: 'id',
        in: 'path',
        required: true,
        description: 'The journal id of a payment (`id` in a journal entry).',
        schema: { type: 'string' },
      },
    },
    responses: {
      RequestTimeout: { description: REQUEST_TIMEOUT_TEXT, headers: headers(['X-Request-Id']), content: problemContent() },
      HeadersTooLarge: { description: HEADERS_TOO_LARGE_TEXT, headers: headers(['X-Request-Id']), content: problemContent() },
      InternalError: {
        description: `${INTERNAL_ERROR_TEXT}\n\nOn the admin API also: the journal store (Redis) cannot be read.`,
        headers: headers(['X-Request-Id']),
        content: problemContent(),
      },
      AdminUnauthorized: problem(`The bearer token is missing or wrong.\n\n${problemList(401, ['unauthorized'])}`, ['WWW-Authenticate']),
      AdminNotFound: problem(`No such payment, or \`ADMIN_TOKEN\` is not set (the admin API does not exist).\n\n${problemList(404, ['not-found'])}`),
    },
    schemas: {
      PayRequest: {
        type: 'object',
        description:
          "iCG's ProcessRequest. Property names are matched case-insensitively, as iCG binds them (`amount` = `Amount`); a name given twice in different letter case, at any depth, is refused. Fields not listed pass through to iCG unchanged. Only the fields' kinds and bounds are checked here; iCG decides the rest.",
        required: ['Amount', 'Type'],
        properties: {
          Amount: {
            type: 'number',
            exclusiveMinimum: 0,
            maximum: 1000000000,
            description: 'At most two decimal places, written as a plain decimal (no exponent).',
            examples: [12.5],
          },
          Type: { type: 'string', minLength: 1, maxLength: 32, description: 'Transaction type: `D` (sale/debit), `V` (credit/refund), …', examples: ['D'] },
          CashBackAmount: { type: ['number', 'null'], minimum: 0, maximum: 1000000000, description: 'At most two decimal places.' },
          Description: { type: ['string', 'null'], maxLength: 1024 },
          Metadata: { type: ['string', 'null'], maxLength: 4096 },
          DeviceSerialNumber: { type: ['string', 'null'], maxLength: 128 },
          Laneid: { type: ['string', 'null'], maxLength: 128 },
          Invoices: {
            description: 'The invoices this payment covers: an object or a list of them. Their fields are not documented by iCG and pass through unchanged.',
            anyOf: [schemaRef('InvoiceLine'), { type: 'array', items: schemaRef('InvoiceLine') }, { type: 'null' }],
          },
          Customer: { anyOf: [schemaRef('Customer'), { type: 'null' }] },
          Method: {
            description:
              'The payment method: a card or a bank account. Omitted: iCG uses what it has on file for the invoice. This service only checks that it is an object: other shapes (e.g. a stored token) are forwarded as they are, but are not described here.',
            anyOf: [schemaRef('CardMethod'), schemaRef('BankAccountMethod'), { type: 'null' }],
          },
          IMetadata: {
            description: 'Passed through unchanged.',
            anyOf: [{ type: 'object', additionalProperties: true }, { type: 'array' }, { type: 'null' }],
          },
        },
        additionalProperties: true,
      },
      CardMethod: {
        type: 'object',
        description:
          "A card. **Assumed field names**: iCG does not publish the fields of `Method`; these are the ones this project's sandbox and checkout page use. Other fields pass through unchanged.",
        required: ['CardNumber'],
        properties: {
          CardNumber: { type: 'string', description: 'Digits (spaces and dashes are tolerated).', examples: ['4111111111111111'] },
          Expiration: { type: 'string', description: '`MMYY`.', examples: ['1229'] },
          Cvv: { type: 'string', description: 'The 3-4 digit verification code; never stored or logged.', examples: ['123'] },
        },
        additionalProperties: true,
      },
      BankAccountMethod: {
        type: 'object',
        description:
          "A US bank account (ACH/DDA). **Assumed field names**: iCG does not publish the fields of `Method` (its docs say a DDA token needs the bank routing number); these are the ones this project's sandbox reads. Other fields pass through unchanged.",
        required: ['RoutingNumber', 'AccountNumber'],
        properties: {
          RoutingNumber: { type: 'string', description: 'The 9-digit ABA routing number.', examples: ['083000056'] },
          AccountNumber: { type: 'string', description: 'Masked to its last four digits in answers, logs and the journal.', examples: ['446674336'] },
        },
        additionalProperties: true,
      },
      Customer: {
        type: 'object',
        description:
          '**Assumed field names**: iCG does not publish the fields of `Customer`; these are common names, passed through unchanged like any other field. Account and card numbers anywhere in it are masked in logs.',
        properties: {
          Id: { type: ['string', 'null'] },
          FirstName: { type: ['string', 'null'] },
          LastName: { type: ['string', 'null'] },
          Email: { type: ['string', 'null'] },
          Phone: { type: ['string', 'null'] },
          Address: { type: ['string', 'null'] },
          City: { type: ['string', 'null'] },
          State: { type: ['string', 'null'] },
          Zip: { type: ['string', 'null'] },
          Country: { type: ['string', 'null'] },
        },
        additionalProperties: true,
      },
      InvoiceLine: {
        type: 'object',
        description:
          '**Assumed field names**: iCG does not publish the fields of `Invoices`; `Id` and `Amount` are assumptions. Any other field passes through unchanged.',
        properties: {
          Id: { type: ['integer', 'string'], description: 'The invoice number.' },
          Amount: { type: 'number', description: 'The amount paid towards this invoice.' },
        },
        additionalProperties: true,
      },
      PayResponse: {
        type: 'object',
        description: `iCG's ProcessResponse. ${ANSWER_FIELDS_DOC}${RECONCILED_FIELDS.length > 0 ? ` A key whose unknown outcome an operator confirmed charged replays an approval with ${RECONCILED_FIELDS.map((field) => `\`${field}\``).join(', ')} too.` : ''}`,
        properties: {
          ...Object.fromEntries(DOCUMENTED_ANSWER_FIELDS.map((field) => [field, ANSWER_FIELD_SCHEMAS[field] ?? { description: 'Relayed as iCG sent it.' }])),
          ...Object.fromEntries(RECONCILED_FIELDS.map((field) => [field, { type: 'boolean', description: 'Set on an approval an operator reconciled.' }])),
        },
        additionalProperties: true,
      },
      IcgError: {
        $ref: '#/components/schemas/PayResponse',
        description:
          'An iCG 4xx answer relayed (e.g. `{"Message": "The request is invalid.", "ModelState": {…}}`): the same fields as a pay\'s answer are relayed.',
      },
      Problem: {
        type: 'object',
        description: 'An RFC 9457 problem: every error this service answers itself.',
        required: ['type', 'title', 'status', 'detail', 'requestId'],
        properties: {
          type: {
            type: 'string',
            enum: PROBLEM_TYPES,
            description: `A tag URI naming the problem (stable: match on it, not on \`title\` or \`detail\`):\n\n${problemTable}`,
          },
          title: { type: 'string' },
          status: { type: 'integer', enum: PROBLEM_STATUSES },
          detail: { type: 'string', description: 'What happened and what to do, for developers.' },
          instance: { type: 'string', description: 'The request path.' },
          requestId: { type: 'string', description: 'The `X-Request-Id` of this answer.' },
          errors: { type: 'array', items: schemaRef('FieldError') },
        },
      },
      ValidationProblem: {
        description: 'A 400 problem; `errors` points at what to fix.',
        allOf: [schemaRef('Problem'), { type: 'object', properties: { status: { const: 400 } } }],
      },
      FieldError: {
        type: 'object',
        required: ['pointer', 'detail'],
        properties: {
          pointer: { type: 'string', description: 'RFC 6901 pointer into the body (or `/invoiceId`, `/headers/Idempotency-Key`, a query parameter).' },
          detail: { type: 'string' },
        },
      },
      Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
      Check: {
        type: 'object',
        required: ['status'],
        description: 'One dependency as this instance sees it.',
        properties: {
          status: { type: 'string', enum: ['up', 'down', 'memory'], description: '`memory`: no Redis configured (state lives in this process).' },
          latencyMs: { type: 'number' },
          detail: { type: 'string' },
          expiresInSeconds: { type: 'integer' },
          persistence: { type: 'object', properties: { aof: { type: 'boolean' }, rdb: { type: ['boolean', 'null'] } } },
          maxmemoryPolicy: { type: ['string', 'null'] },
        },
      },
      Readiness: {
        type: 'object',
        required: ['status', 'checks'],
        description: '`ready` and `degraded` answer 200; `draining` answers 503.',
        properties: {
          status: { type: 'string', enum: ['ready', 'degraded', 'draining'] },
          checks: {
            type: 'object',
            required: ['config', 'redis', 'token'],
            properties: {
              config: schemaRef('Check'),
              redis: schemaRef('Check'),
              token: schemaRef('Check'),
              dataLoss: schemaRef('Check'),
              redisConfig: { ...schemaRef('Check'), description: "Present while Redis's maxmemory-policy lets it evict records (it must be noeviction)." },
              shutdown: schemaRef('Check'),
            },
            additionalProperties: schemaRef('Check'),
          },
        },
      },
      PaymentList: {
        type: 'object',
        required: ['payments'],
        properties: { payments: { type: 'array', items: schemaRef('JournalEntry') } },
      },
      JournalEntry: {
        type: 'object',
        description: 'One payment as journalled: never a full card or account number, never a CVV.',
        required: ['id', 'startedAt', 'requestId', 'invoiceId', 'amount', 'outcome'],
        properties: {
          id: { type: 'string' },
          startedAt: { type: 'string', format: 'date-time' },
          requestId: { type: 'string' },
          invoiceId: { type: 'string', description: 'The canonical invoice id.' },
          keyHash: { type: 'string', description: 'SHA-256 (hex) of the Idempotency-Key.' },
          amount: { type: 'string', description: '`Amount` as the client wrote it.' },
          instrument: { type: 'string', description: '`card XXXXXXXXXXXX1111` or `account XXXXX4336`.' },
          abandoned: {
            type: 'boolean',
            enum: [true],
            description: 'Still pending long past its deadline: its instance stopped before iCG answered, so it is shown (and resolved) as `unknown`.',
          },
          outcome: {
            type: 'string',
            enum: [...OUTCOMES],
            description:
              "`pending` until the pay ends; `approved` / `declined` from iCG's `Status`; `rejected` for an iCG 4xx; `unknown` when it may have charged; `not_sent` when it ended before reaching iCG.",
          },
          upstreamStatus: { type: 'integer' },
          transactionId: { type: 'string' },
          confirmationCode: { type: 'string' },
          durationMs: { type: 'number' },
          resolutions: { type: 'array', items: schemaRef('Resolution') },
        },
      },
      Resolution: {
        type: 'object',
        required: ['as', 'by', 'at'],
        properties: {
          as: { type: 'string', enum: ['charged', 'not_charged'] },
          by: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
          reference: { type: 'string', description: "iCG's TransactionId or ConfirmationCode for a charge." },
        },
      },
      ResolutionRequest: {
        type: 'object',
        required: ['resolution', 'resolvedBy'],
        properties: {
          resolution: { type: 'string', enum: ['charged', 'not_charged'] },
          reference: {
            type: 'string',
            pattern: '^[\\w.:-]{1,128}$',
            description: "iCG's TransactionId or ConfirmationCode; required when `resolution` is `charged`.",
          },
          resolvedBy: { type: 'string', pattern: '^[\\w .@-]{1,64}$', description: 'Who resolved it.' },
        },
      },
    },
  },
};

/** GET /openapi.json: the document above (not rate limited, no origin check). */
export function openApiRoute(): Router {
  const router = Router();
  const body = JSON.stringify(openApiDocument);
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(body);
  });
  return router;
}
