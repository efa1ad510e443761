/**
 * The checkout demo's behaviour: sends the form to this origin's POST /pay/:invoiceId and says in
 * plain words what happened. Card data lives only in the form and in the one request that carries
 * it: this script never logs it, stores it, or puts it in a URL. Server text is shown with
 * textContent only, never parsed as HTML.
 */

/** How long the page waits for an answer; the service's own iCG timeout is shorter. */
const REQUEST_TIMEOUT_MS = 30000;

const form = document.getElementById('checkout-form');
const button = document.getElementById('pay-button');
const result = document.getElementById('result');
const message = document.getElementById('result-message');
const details = document.getElementById('result-details');
const reference = document.getElementById('result-reference');

/** Field names a customer recognises, by the lower-cased JSON pointer the service reports. */
const FIELD_LABELS = {
  '': 'Payment',
  '/invoiceid': 'Invoice number',
  '/amount': 'Amount',
  '/type': 'Payment type',
  '/method': 'Card',
  '/method/cardnumber': 'Card number',
  '/method/expiration': 'Expiry',
  '/method/cvv': 'Security code',
};

/** Words in iCG's Status that mean the card was not charged (a decline is a 200 answer). */
const DECLINED_STATUS = /declin|denied|refus|reject|fail|error|void/i;

/**
 * A fresh Idempotency-Key for each attempt. crypto.randomUUID exists only in secure contexts
 * (https, localhost), so a demo served over plain http falls back to getRandomValues.
 */
function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The form as the service expects it: digits only for card fields, expiry as MMYY. */
function readPayment() {
  const value = (id) => document.getElementById(id).value.trim();
  const digits = (id) => value(id).replace(/\D/g, '');
  return {
    invoiceId: value('invoice-id'),
    body: {
      Amount: Number(value('amount')),
      Type: value('payment-type'),
      Method: { CardNumber: digits('card-number'), Expiration: digits('expiry'), Cvv: digits('cvv') },
    },
  };
}

/** Shows an outcome. data-state is set last, so whoever waits on it finds the text already there. */
function show(state, text, items = [], requestId = '') {
  message.textContent = text;
  details.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement('li');
      li.textContent = item;
      return li;
    }),
  );
  details.hidden = items.length === 0;
  reference.textContent = requestId ? `Reference: ${requestId}` : '';
  reference.hidden = !requestId;
  result.dataset.state = state;
}

/** "Card number: must be 12-19 digits" for each field problem, whichever error shape arrives. */
function fieldProblems(body) {
  const errors = body.errors;
  if (Array.isArray(errors)) {
    return errors
      .filter((error) => error && typeof error === 'object')
      .map((error) => `${labelFor(String(error.pointer ?? ''))}: ${String(error.detail ?? 'is invalid')}`);
  }
  // iCG's own validation answer, relayed as is, may be ASP.NET's { errors: { Field: [messages] } }.
  if (errors && typeof errors === 'object') {
    return Object.entries(errors).flatMap(([field, messages]) =>
      (Array.isArray(messages) ? messages : [messages]).map((text) => `${labelFor(`/${field.replace(/\./g, '/')}`)}: ${String(text)}`),
    );
  }
  return [];
}

function labelFor(pointer) {
  const known = FIELD_LABELS[pointer.toLowerCase()];
  if (known !== undefined) return known;
  return pointer.split('/').filter(Boolean).join(' › ') || 'Payment';
}

/** Retry-After in whole seconds (the service sends seconds; an HTTP date is turned into seconds). */
function retryAfterSeconds(response) {
  const header = response.headers.get('Retry-After');
  if (header === null) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** What an answer means for the customer: a data-state, a sentence, and any details. */
function interpret(response, body) {
  const requestId = typeof body.requestId === 'string' ? body.requestId : (response.headers.get('X-Request-Id') ?? '');
  const serverSays =
    typeof body.detail === 'string' ? body.detail : typeof body.Message === 'string' ? body.Message : typeof body.message === 'string' ? body.message : '';
  const { status } = response;

  if (status >= 200 && status < 300) {
    const icgStatus = typeof body.Status === 'string' ? body.Status : '';
    const transaction = body.TransactionId === undefined || body.TransactionId === null ? '' : String(body.TransactionId);
    if (DECLINED_STATUS.test(icgStatus)) {
      const why = typeof body.StatusMessage === 'string' && body.StatusMessage ? `: ${body.StatusMessage}` : '';
      return { state: 'declined', text: `Payment declined${why}. Your card was not charged.` };
    }
    return { state: 'success', text: transaction ? `Payment approved — transaction ${transaction}` : 'Payment approved.' };
  }
  switch (status) {
    case 400: {
      const problems = fieldProblems(body);
      return {
        state: 'invalid',
        text: problems.length > 0 ? 'Please check the payment details:' : `Please check the payment details. ${serverSays}`.trim(),
        items: problems,
        requestId,
      };
    }
    case 409:
      return { state: 'conflict', text: 'A payment for this invoice is already in progress. Wait a moment for its result before trying again.', requestId };
    case 429: {
      const seconds = retryAfterSeconds(response);
      return {
        state: 'rate-limited',
        text: seconds === null ? 'Too many attempts — try again later.' : `Too many attempts — try again in ${plural(seconds, 'second')}.`,
        requestId,
      };
    }
    case 503:
      // Nothing reached the payment gateway (or it refused us before acting): no charge happened.
      return {
        state: 'unavailable',
        text: 'The payment service is unavailable right now, and your card has not been charged. Please try again later.',
        requestId,
      };
    case 502:
      // The gateway may have failed after taking the payment: say so rather than invite a double charge.
      return {
        state: 'unavailable',
        text: 'The payment service had a problem, and we cannot tell whether this payment went through. Please check the invoice before trying again, so you are not charged twice.',
        requestId,
      };
    case 504:
      return {
        state: 'unavailable',
        text: 'The payment service did not answer in time, so the outcome is unknown: the payment may have gone through. Please check the invoice before trying again, so you are not charged twice.',
        requestId,
      };
    default:
      if (status >= 500) return { state: 'error', text: 'Something went wrong on our side. Please check the invoice before trying again.', requestId };
      return { state: 'error', text: `The payment could not be sent${serverSays ? `: ${serverSays}` : '.'}`, requestId };
  }
}

/** One attempt: a new Idempotency-Key, the request, and its outcome in words. */
async function pay(payment) {
  let response;
  let text;
  try {
    response = await fetch(`/pay/${encodeURIComponent(payment.invoiceId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': newIdempotencyKey() },
      body: JSON.stringify(payment.body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined,
    });
    text = await response.text();
  } catch (error) {
    if (error && error.name === 'TimeoutError') {
      return { state: 'error', text: 'No answer from the payment service in time, so the outcome is unknown. Please check the invoice before trying again.' };
    }
    return {
      state: 'error',
      text: 'Could not reach the payment service, or the connection dropped. Check your connection, and check the invoice before trying again.',
    };
  }
  let body = {};
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed;
  } catch {
    // Not JSON (a proxy's error page, say): the status alone decides.
  }
  return interpret(response, body);
}

let isPaying = false;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  // The disabled button stops a double click; the flag also stops a second Enter key.
  if (isPaying) return;
  isPaying = true;
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  show('pending', 'Sending your payment…');
  try {
    const outcome = await pay(readPayment());
    show(outcome.state, outcome.text, outcome.items, outcome.requestId);
  } catch {
    show('error', 'Something went wrong in this page. Please check the invoice before trying again.');
  } finally {
    isPaying = false;
    button.disabled = false;
    form.removeAttribute('aria-busy');
  }
});

// The form is inert until this script runs (the button ships disabled).
button.disabled = false;
