import { Router } from 'express';

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } as const;
const requestIdHeader = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } } as const;

/** An error answer: problem+json with the request id header. */
function problem(description: string, extraHeaders: Record<string, unknown> = {}) {
  return { description, headers: { ...requestIdHeader, ...extraHeaders }, content: problemContent };
}

const retryAfter = { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } as const;
const rateLimitHeaders = {
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
} as const;

/**
 * The proxy's public API as OpenAPI 3.1: what a merchant's frontend developers read. Kept true by
 * test/integration/openapi.test.ts, which checks the running app's answers against it.
 */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'icg-bff',
    version: '0.1.0',
    description: [
      "Pays iCheckGateway (iCG) invoices on behalf of a merchant. The service holds the merchant's iCG credentials and token; callers never see them.",
      '',
      "- **Who calls it**: the merchant's checkout page on the same origin (or an origin on `CORS_ORIGINS`), mobile apps and servers (no `Origin` header).",
      '- **Idempotency**: send a fresh `Idempotency-Key` per payment attempt and the same key when retrying it. A retry replays the first answer (`Idempotent-Replayed: true`) and never charges twice.',
      '- **Limits**: a per-client and a stricter per-invoice budget; `429` carries `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy` headers.',
      '- **Errors**: every error is `application/problem+json` (RFC 9457) with a `requestId` matching the `X-Request-Id` response header.',
    ].join('\n'),
  },
  paths: {
    '/pay/{invoiceId}': {
      parameters: [{ $ref: '#/components/parameters/InvoiceId' }],
      post: {
        operationId: 'payInvoice',
        summary: 'Pay an invoice through iCG',
        description:
          "Forwards the body to iCG `POST /Invoices/{id}/Pay` with the merchant's token and relays iCG's status and JSON body. iCG 4xx answers (other than 401) are relayed as they are; a declined card is a 200 whose `Status` says so.",
        parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }, { $ref: '#/components/parameters/RequestId' }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { $ref: '#/components/schemas/PayRequest' },
              example: { Amount: 12.5, Type: 'D', Description: 'Order 1001', Method: { CardNumber: '4111111111111111', Expiration: '1229', Cvv: '123' } },
            },
          },
        },
        responses: {
          '200': {
            description: "iCG's answer: approved or declined (see `Status`).",
            headers: { ...requestIdHeader, ...rateLimitHeaders, 'Idempotent-Replayed': { $ref: '#/components/headers/Idempotent-Replayed' } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PayResponse' } } },
          },
          '204': { description: 'iCG answered without a body.', headers: requestIdHeader },
          '400': {
            description: "Invalid invoice id, body or Idempotency-Key (nothing reached iCG), or iCG's own 400, relayed.",
            headers: requestIdHeader,
            content: {
              'application/problem+json': { schema: { $ref: '#/components/schemas/ValidationProblem' } },
              'application/json': { schema: { $ref: '#/components/schemas/IcgError' } },
            },
          },
          '403': problem('The request comes from a browser page on an origin that is not allowed. Nothing reached iCG.'),
          '405': problem('Use POST.'),
          '409': problem('A payment for this invoice, or with this Idempotency-Key, is in progress. Wait for its result.', retryAfter),
          '413': problem('The body is larger than the limit (16 KiB by default).'),
          '415': problem('The body is not uncompressed UTF-8 `application/json`.'),
          '422': problem('This Idempotency-Key was already used for another invoice or body.'),
          '429': problem('Too many attempts from this client or for this invoice.', { ...retryAfter, ...rateLimitHeaders }),
          '502': problem(
            'iCG failed (5xx, a redirect, an unreadable answer, or unreachable). The charge may have happened when iCG was reached: retry with the same Idempotency-Key to get this same answer, and reconcile.',
          ),
          '503': problem(
            "iCG rejected the merchant's credentials or refused a token it had just issued (payments are paused), or a keyed request arrived while the shared store is down. Nothing was charged.",
            retryAfter,
          ),
          '504': problem(
            'iCG did not answer in time. **The outcome is unknown**: check the invoice before paying again; a retry with the same Idempotency-Key replays this answer.',
          ),
          default: {
            description: 'Another status iCG answered with (4xx), relayed with its JSON body.',
            headers: requestIdHeader,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/IcgError' } } },
          },
        },
      },
      options: {
        operationId: 'payInvoicePreflight',
        summary: 'CORS preflight',
        responses: {
          '204': {
            description: 'Allowed: `Access-Control-Allow-Origin`, `-Methods: POST`, `-Headers: Content-Type, Idempotency-Key, X-Request-Id`.',
            headers: requestIdHeader,
          },
          '403': problem('The origin is not allowed.'),
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'liveness',
        summary: 'Liveness: the process serves',
        responses: {
          '200': { description: 'Alive.', headers: requestIdHeader, content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
        },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readiness',
        summary: 'Readiness: 503 only while this instance drains; shared dependencies are detail',
        responses: {
          '200': {
            description: 'Ready, or degraded (a shared dependency is down: see the checks).',
            headers: requestIdHeader,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } },
          },
          '503': {
            description: 'Draining for shutdown: take this instance out of rotation.',
            headers: requestIdHeader,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } },
          },
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        security: [{}, { metricsBearer: [] }],
        responses: {
          '200': { description: 'Prometheus text format.', headers: requestIdHeader, content: { 'text/plain': { schema: { type: 'string' } } } },
          '401': problem('`METRICS_TOKEN` is set and the bearer token is missing or wrong.'),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openApi',
        summary: 'This document',
        responses: {
          '200': { description: 'The OpenAPI document.', headers: requestIdHeader, content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
  },
  components: {
    parameters: {
      InvoiceId: {
        name: 'invoiceId',
        in: 'path',
        required: true,
        description: 'The iCG invoice id.',
        schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
        example: '112',
      },
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'A new random value (e.g. a UUID) per payment attempt; the same value when retrying that attempt.',
        schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{8,128}$' },
      },
      RequestId: {
        name: 'X-Request-Id',
        in: 'header',
        required: false,
        description: 'Kept when well-formed, else replaced; forwarded to iCG.',
        schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
      },
    },
    headers: {
      'X-Request-Id': {
        description: "The request id (the caller's when well-formed), also in problem bodies and logs.",
        required: true,
        schema: { type: 'string' },
      },
      'Idempotent-Replayed': {
        description: '`true` when this answer is the stored answer of an earlier request with the same Idempotency-Key.',
        schema: { type: 'string', enum: ['true'] },
      },
      'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
      RateLimit: { description: 'IETF draft-8 RateLimit, e.g. `"per-client"; r=29; t=60`.', schema: { type: 'string' } },
      'RateLimit-Policy': { description: 'IETF draft-8 RateLimit-Policy, e.g. `"per-client"; q=30; w=60`.', schema: { type: 'string' } },
    },
    securitySchemes: { metricsBearer: { type: 'http', scheme: 'bearer', description: 'Only when METRICS_TOKEN is set.' } },
    schemas: {
      PayRequest: {
        type: 'object',
        description:
          "iCG's ProcessRequest. Property names are case-insensitive (`amount` = `Amount`); a name given twice in different case is refused. Fields not listed pass through unchanged.",
        required: ['Amount', 'Type'],
        properties: {
          Amount: { type: 'number', exclusiveMinimum: 0, maximum: 1000000000, description: 'At most two decimal places.' },
          Type: { type: 'string', minLength: 1, maxLength: 32, description: 'Transaction type, e.g. `D` (sale).' },
          CashBackAmount: { type: ['number', 'null'], minimum: 0 },
          Description: { type: ['string', 'null'], maxLength: 1024 },
          Metadata: { type: ['string', 'null'], maxLength: 4096 },
          DeviceSerialNumber: { type: ['string', 'null'], maxLength: 128 },
          Laneid: { type: ['string', 'null'], maxLength: 128 },
          Invoices: { type: ['object', 'array', 'null'] },
          Customer: { type: ['object', 'null'] },
          Method: {
            type: ['object', 'null'],
            description: 'The payment method: card (number, expiry, CVV) or bank account (routing and account number), or a token.',
          },
          IMetadata: { type: ['object', 'array', 'null'] },
        },
        additionalProperties: true,
      },
      PayResponse: {
        type: 'object',
        description: "iCG's answer, relayed as it is.",
        properties: {
          TransactionId: { type: ['string', 'null'] },
          Status: { type: ['string', 'null'], examples: ['Approved', 'Declined'] },
          StatusMessage: { type: ['string', 'null'] },
          ConfirmationCode: { type: ['string', 'null'] },
          ApprovalCode: { type: ['string', 'null'] },
          TransactionAmount: { type: ['number', 'null'] },
          TransactionDate: { type: ['string', 'null'] },
          CardDisplay: { type: ['string', 'null'] },
          CardType: { type: ['string', 'null'] },
          CvcResponse: { type: ['string', 'null'] },
          AvsResponse: { type: ['string', 'null'] },
          ReferenceNumber: { type: ['string', 'null'] },
          ErrorData: {},
          ExtraData: {},
        },
        additionalProperties: true,
      },
      IcgError: { type: 'object', description: 'An iCG error body, relayed as it is (e.g. `{"Message": "..."}`).', additionalProperties: true },
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'requestId'],
        properties: {
          type: { type: 'string', description: 'A `tag:icg-bff,2026:problem:<slug>` URI; the slugs are listed in the README.' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          requestId: { type: 'string' },
          errors: { type: 'array', items: { $ref: '#/components/schemas/FieldError' } },
        },
      },
      ValidationProblem: {
        allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: { status: { const: 400 } } }],
      },
      FieldError: {
        type: 'object',
        required: ['pointer', 'detail'],
        properties: {
          pointer: { type: 'string', description: 'RFC 6901 pointer into the body (or `/invoiceId`, `/headers/Idempotency-Key`).' },
          detail: { type: 'string' },
        },
      },
      Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
      Check: {
        type: 'object',
        required: ['status'],
        properties: {
          status: { enum: ['up', 'down', 'memory'] },
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
        description:
          '`ready` and `degraded` answer 200 (a shared dependency is down: see the checks; every instance sees the same, so none is taken out of rotation); `draining` answers 503.',
        properties: {
          status: { enum: ['ready', 'degraded', 'draining'] },
          checks: {
            type: 'object',
            required: ['config', 'redis', 'token'],
            properties: {
              config: { $ref: '#/components/schemas/Check' },
              redis: { $ref: '#/components/schemas/Check' },
              token: { $ref: '#/components/schemas/Check' },
              dataLoss: { $ref: '#/components/schemas/Check' },
              shutdown: { $ref: '#/components/schemas/Check' },
            },
          },
        },
      },
    },
  },
} as const;

/** GET /openapi.json: the document above (not rate limited, no origin check). */
export function openApiRoute(): Router {
  const router = Router();
  const body = JSON.stringify(openApiDocument);
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(body);
  });
  return router;
}
