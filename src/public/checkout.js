/**
 * The checkout demo's behaviour: sends the form to this origin's POST /pay/:invoiceId and says in
 * plain words what happened. Card data lives only in the form and in the request that carries it:
 * this script never logs it, stores it, or puts it in a URL. Server text is shown with textContent
 * only, never parsed as HTML.
 *
 * Paying at most once. Each payment attempt has one Idempotency-Key, kept in sessionStorage (this
 * tab only, gone when it closes) so that a reload does not lose it, and sent again on every retry of
 * that attempt: after a timeout, a lost connection, a 409, a 429 or a 5xx. The service answers a
 * retry with the first attempt's stored result instead of paying again. A new key is made only for a
 * changed payment (another invoice, amount, type or card) or after a decline, which ends its attempt.
 *
 * What is stored, under a name made of the invoice id, amount, type and the card's last four digits,
 * is only { idempotencyKey, state, reference, at }: never the card number, a hash of it, the expiry
 * or the security code.
 */

/**
 * How long the page waits for an answer. The service's iCG timeout (ICG_TIMEOUT_MS, 10 s by default)
 * is shorter, so it normally answers first; if the page gives up, the outcome is unknown and the key kept.
 */
const REQUEST_TIMEOUT_MS = 30000;

/** Where attempts are kept: one sessionStorage entry per payment, named by what identifies it. */
const ATTEMPT_PREFIX = 'icg-bff.checkout.attempt:';
const ATTEMPT_STATES = new Set(['pending', 'unknown', 'approved', 'declined']);

/** Problem types the service answers with (RFC 9457 `type`); the slug says what to do next. */
const PROBLEM_TYPE_BASE = 'tag:icg-bff,2026:problem:';

/** The cards the iCG sandbox approves (public test numbers), listed only in sandbox mode. */
const TEST_CARDS = [
  { brand: 'Visa', number: '4111111111111111' },
  { brand: 'Mastercard', number: '5454545454545454' },
  { brand: 'AmEx', number: '378282246310005' },
  { brand: 'Discover', number: '6011000990139424' },
];

const form = document.getElementById('checkout-form');
const fieldsets = [document.getElementById('invoice-fields'), document.getElementById('card-fields')];
const button = document.getElementById('pay-button');
const newPaymentButton = document.getElementById('new-payment');
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
const DECLINED_STATUS = /declin|denied|refus|reject|fail|error|void|\bnot\b/i;
/**
 * Words in iCG's Status that mean it was charged. A 2xx saying neither (no Status, an empty answer)
 * is not taken for an approval: its outcome is unknown, and the invoice is not shown as paid.
 */
const APPROVED_STATUS = /approv|success|captur|complet|settled|paid/i;

/**
 * A random UUID, for Idempotency-Keys and request ids. crypto.randomUUID exists only in secure
 * contexts (https, localhost), so a demo served over plain http falls back to getRandomValues.
 */
function newUuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/* ------------------------------------------------------------------------------------------------
 * Attempts: sessionStorage, with an in-memory copy for when storage is refused (a sandboxed frame,
 * a full quota). Without storage a reload forgets the key; nothing else changes.
 * ---------------------------------------------------------------------------------------------- */

const memory = new Map();

function storedNames() {
  const names = new Set(memory.keys());
  try {
    for (let i = 0; i < sessionStorage.length; i += 1) names.add(sessionStorage.key(i));
  } catch {
    // Storage refused: the in-memory copy is all there is.
  }
  return [...names].filter((name) => typeof name === 'string' && name.startsWith(ATTEMPT_PREFIX));
}

function readStored(name) {
  try {
    const value = sessionStorage.getItem(name);
    if (value !== null) return value;
  } catch {
    // Storage refused: fall back to the in-memory copy.
  }
  return memory.get(name) ?? null;
}

function writeStored(name, value) {
  memory.set(name, value);
  try {
    sessionStorage.setItem(name, value);
  } catch {
    // Storage refused or full: this page still has the in-memory copy.
  }
}

function removeStored(name) {
  memory.delete(name);
  try {
    sessionStorage.removeItem(name);
  } catch {
    // Nothing stored there to remove.
  }
}

/** What identifies a payment without card data: invoice, amount, type and the card's last four digits. */
function identityOf(payment) {
  return {
    invoiceId: payment.invoiceId,
    amount: Number.isFinite(payment.body.Amount) ? payment.body.Amount.toFixed(2) : '',
    type: payment.body.Type,
    last4: payment.body.Method.CardNumber.slice(-4),
  };
}

function attemptName(identity) {
  return ATTEMPT_PREFIX + JSON.stringify([identity.invoiceId, identity.amount, identity.type, identity.last4]);
}

function identityFromName(name) {
  try {
    const [invoiceId, amount, type, last4] = JSON.parse(name.slice(ATTEMPT_PREFIX.length));
    if ([invoiceId, amount, type, last4].every((part) => typeof part === 'string')) return { invoiceId, amount, type, last4 };
  } catch {
    // Not one of ours after all.
  }
  return null;
}

/** The stored attempt, or null when there is none or it is not in the shape this page writes. */
function loadAttempt(identity) {
  let attempt;
  try {
    attempt = JSON.parse(readStored(attemptName(identity)) ?? 'null');
  } catch {
    return null;
  }
  const isValid =
    attempt !== null &&
    typeof attempt === 'object' &&
    typeof attempt.idempotencyKey === 'string' &&
    ATTEMPT_STATES.has(attempt.state) &&
    typeof attempt.reference === 'string' &&
    typeof attempt.at === 'number';
  return isValid ? attempt : null;
}

/** Stores exactly these four fields, whatever else `attempt` carries. */
function saveAttempt(identity, attempt) {
  const { idempotencyKey, state, reference: ref, at } = attempt;
  writeStored(attemptName(identity), JSON.stringify({ idempotencyKey, state, reference: ref, at }));
}

/** Every stored attempt with its identity, newest first. */
function allAttempts() {
  return storedNames()
    .map((name) => {
      const identity = identityFromName(name);
      const attempt = identity && loadAttempt(identity);
      return attempt ? { identity, attempt } : null;
    })
    .filter(Boolean)
    .sort((a, b) => b.attempt.at - a.attempt.at);
}

/** The approved attempt on this invoice in this tab, if any: such an invoice is not paid again. */
function approvedAttemptOn(invoiceId) {
  return allAttempts().find((entry) => entry.identity.invoiceId === invoiceId && entry.attempt.state === 'approved') ?? null;
}

/* ------------------------------------------------------------------------------------------------
 * The form and what the page shows.
 * ---------------------------------------------------------------------------------------------- */

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

/**
 * The attempt the form's payment would continue, if any. Until the card number is complete, an
 * unfinished attempt on the same invoice, amount and type stands for it (after a reload the card
 * fields are empty, and the page already asks for the same card).
 */
function attemptInForm() {
  const payment = readPayment();
  const identity = identityOf(payment);
  if (payment.body.Method.CardNumber.length >= 12) return loadAttempt(identity);
  const sameInvoice = allAttempts().find(
    (entry) => entry.identity.invoiceId === identity.invoiceId && entry.identity.amount === identity.amount && entry.identity.type === identity.type,
  );
  return sameInvoice?.attempt ?? null;
}

/** "Pay" for a new payment, "Check again" for one whose outcome is unknown, "Try again" for one that did not finish. */
function labelButton() {
  if (isPaid) return;
  const state = attemptInForm()?.state;
  button.textContent = state === 'unknown' ? 'Check again' : state === 'pending' ? 'Try again' : 'Pay';
}

let isPaid = false;

/** An approved invoice: the form is disabled, so nothing can pay it a second time. */
function lockAsPaid() {
  isPaid = true;
  for (const fieldset of fieldsets) fieldset.disabled = true;
  button.disabled = true;
  button.textContent = 'Paid';
  newPaymentButton.hidden = false;
}

/** "Pay another invoice": an empty, enabled form. An invoice paid in this tab stays refused. */
function startNewPayment() {
  isPaid = false;
  form.reset();
  for (const fieldset of fieldsets) fieldset.disabled = false;
  button.disabled = false;
  button.textContent = 'Pay';
  newPaymentButton.hidden = true;
  show('idle', '');
  document.getElementById('invoice-id').focus();
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

/** The problem type's slug ("outcome-unknown"), or '' when the body is not one of the service's problems. */
function slugOf(body) {
  return typeof body.type === 'string' && body.type.startsWith(PROBLEM_TYPE_BASE) ? body.type.slice(PROBLEM_TYPE_BASE.length) : '';
}

/** The words for an outcome that is not known: the customer may have been charged and must not pay again. */
function unknownText(why) {
  return `${why} Your card may have been charged, so please don’t pay again. We are checking it: press Check again in a moment to see the result. Checking again is safe: it resends this same payment, which is never charged twice.`;
}

/**
 * What an answer means. `show` is what the customer reads; `attempt` is what it means for the
 * stored attempt: 'approved' / 'declined' / 'unknown' (its new state), 'retry' (unchanged: nothing
 * was charged, or it is still in progress, and a retry sends the same key) or 'refused' (the
 * service refused the request before acting on it: a fresh attempt is forgotten).
 */
function interpret(response, body) {
  const requestId = typeof body.requestId === 'string' ? body.requestId : (response.headers.get('X-Request-Id') ?? '');
  const serverSays =
    typeof body.detail === 'string' ? body.detail : typeof body.Message === 'string' ? body.Message : typeof body.message === 'string' ? body.message : '';
  const { status } = response;
  const slug = slugOf(body);
  const seconds = retryAfterSeconds(response);

  if (status >= 200 && status < 300) {
    const icgStatus = typeof body.Status === 'string' ? body.Status : '';
    const transaction = body.TransactionId === undefined || body.TransactionId === null ? '' : String(body.TransactionId);
    if (DECLINED_STATUS.test(icgStatus)) {
      const why = typeof body.StatusMessage === 'string' && body.StatusMessage ? `: ${body.StatusMessage}` : '';
      return {
        attempt: 'declined',
        requestId,
        show: { state: 'declined', text: `Payment declined${why}. Your card was not charged. You can try again, with another card if you like.` },
      };
    }
    if (APPROVED_STATUS.test(icgStatus)) {
      return {
        attempt: 'approved',
        requestId,
        show: { state: 'success', text: transaction ? `Payment approved — transaction ${transaction}` : 'Payment approved.' },
      };
    }
    const why = 'The payment service answered, but not with a result we recognise, so we don’t know whether this payment went through.';
    return { attempt: 'unknown', requestId, show: { state: 'unknown', text: unknownText(why) } };
  }
  // 502 and 504 (outcome-unknown, or upstream-unavailable / upstream-timeout from older builds): the pay
  // may have reached iCG. Any other 5xx but 503 is treated the same way: we cannot tell what happened.
  if ((status >= 500 && status !== 503) || slug === 'outcome-unknown') {
    const why =
      status === 504
        ? 'The payment service did not answer in time, so we don’t know yet whether this payment went through.'
        : 'The payment service had a problem, so we don’t know yet whether this payment went through.';
    return { attempt: 'unknown', requestId, show: { state: 'unknown', text: unknownText(why) } };
  }
  switch (status) {
    case 400: {
      const problems = fieldProblems(body);
      const text = problems.length > 0 ? 'Please check the payment details:' : `Please check the payment details. ${serverSays}`.trim();
      return { attempt: 'refused', requestId, show: { state: 'invalid', text, items: problems } };
    }
    case 409:
      if (slug === 'invoice-held') {
        return {
          attempt: 'retry',
          requestId,
          show: {
            state: 'held',
            text: 'An earlier payment of this invoice has an unknown outcome: your card may already have been charged. Please don’t pay again while we check it. This attempt charged nothing.',
          },
        };
      }
      return {
        attempt: 'retry',
        requestId,
        show: {
          state: 'conflict',
          text: `This payment is still being processed. Wait ${seconds === null ? 'a moment' : plural(seconds, 'second')}, then try again to see its result: it will not be charged twice.`,
        },
      };
    case 422:
      // The key of a stored attempt came with other card details (a different expiry or code, say).
      return {
        attempt: 'retry',
        requestId,
        show: {
          state: 'held',
          text: 'These card details differ from your earlier attempt to pay this invoice, whose result we are still waiting for. To check it, enter exactly the same card details as before. Please don’t pay again with other details.',
        },
      };
    case 429:
      return {
        attempt: 'retry',
        requestId,
        show: {
          state: 'rate-limited',
          text: seconds === null ? 'Too many attempts — try again later.' : `Too many attempts — try again in ${plural(seconds, 'second')}.`,
        },
      };
    case 503:
      return {
        attempt: 'retry',
        requestId,
        show: {
          state: 'unavailable',
          text: `The payment service is unavailable right now, and your card has not been charged. Please try again ${seconds === null ? 'in a moment' : `in ${plural(seconds, 'second')}`}.`,
        },
      };
    default:
      return { attempt: 'refused', requestId, show: { state: 'error', text: `The payment could not be sent${serverSays ? `: ${serverSays}` : '.'}` } };
  }
}

/** One request: the attempt's Idempotency-Key, a request id of its own (the reference when no answer comes). */
async function send(payment, idempotencyKey) {
  const requestId = newUuid();
  let response;
  let text;
  try {
    response = await fetch(`/pay/${encodeURIComponent(payment.invoiceId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey, 'X-Request-Id': requestId },
      body: JSON.stringify(payment.body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined,
    });
    text = await response.text();
  } catch (error) {
    const why =
      error && error.name === 'TimeoutError'
        ? 'No answer came from the payment service in time, so we don’t know whether this payment went through.'
        : 'The connection to the payment service was lost, so we don’t know whether this payment went through.';
    return { attempt: 'unknown', requestId, show: { state: 'unknown', text: unknownText(why) } };
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

/**
 * Pays the form's payment: the stored attempt's key when this same payment was tried before without
 * a final answer, else a new one, stored before the request leaves so a reload cannot lose it.
 */
async function pay() {
  const payment = readPayment();
  const identity = identityOf(payment);
  const paid = approvedAttemptOn(identity.invoiceId);
  if (paid) {
    show('success', `Invoice ${identity.invoiceId} is already paid, and it won’t be charged again.`, [], paid.attempt.reference);
    lockAsPaid();
    return;
  }
  const earlier = loadAttempt(identity);
  const isFresh = earlier === null || earlier.state === 'declined';
  const attempt = isFresh ? { idempotencyKey: newUuid(), state: 'pending', reference: '', at: Date.now() } : { ...earlier, at: Date.now() };
  saveAttempt(identity, attempt);
  show('pending', isFresh ? 'Sending your payment…' : 'Checking your payment…');

  const outcome = await send(payment, attempt.idempotencyKey);

  if (outcome.attempt === 'refused' && isFresh) removeStored(attemptName(identity));
  else if (outcome.attempt === 'refused' || outcome.attempt === 'retry') saveAttempt(identity, attempt);
  else {
    // The reference of the first unknown outcome stays: it is the one the merchant looks up.
    const keepsReference = outcome.attempt === 'unknown' && attempt.state === 'unknown' && attempt.reference;
    saveAttempt(identity, { ...attempt, state: outcome.attempt, reference: keepsReference ? attempt.reference : outcome.requestId });
  }
  const shown = loadAttempt(identity);
  show(outcome.show.state, outcome.show.text, outcome.show.items, outcome.attempt === 'unknown' ? (shown?.reference ?? outcome.requestId) : outcome.requestId);
  if (outcome.attempt === 'approved') lockAsPaid();
}

/**
 * After a reload: the newest attempt in this tab, if it is not over. An approved invoice shows as
 * paid; an attempt without a final answer is shown with its reference, and the same payment (card
 * details entered again: they were never stored) is sent with the same key.
 */
function restoreLastAttempt() {
  const [latest] = allAttempts();
  if (!latest || latest.attempt.state === 'declined') return;
  const { identity, attempt } = latest;
  document.getElementById('invoice-id').value = identity.invoiceId;
  document.getElementById('amount').value = identity.amount;
  const type = document.getElementById('payment-type');
  if ([...type.options].some((option) => option.value === identity.type)) type.value = identity.type;
  if (attempt.state === 'approved') {
    show('success', `Invoice ${identity.invoiceId} is paid.`, [], attempt.reference);
    lockAsPaid();
    return;
  }
  const what = `Your earlier payment of invoice ${identity.invoiceId} (${identity.amount}, card ending ${identity.last4})`;
  const text =
    attempt.state === 'unknown'
      ? `${what} has an unknown outcome: your card may have been charged, so please don’t pay again. To see its result, enter the same card details and press Check again.`
      : `${what} did not finish, and may have gone through. Please don’t pay again with other details: enter the same card details and press Try again to finish it.`;
  show('unknown', text, [], attempt.reference);
}

/** In sandbox mode, the test cards, each with a button that fills it in. */
async function showTestCardsInSandbox() {
  let mode;
  try {
    const response = await fetch('/checkout/mode.json', { cache: 'no-store', credentials: 'same-origin' });
    mode = response.ok ? await response.json() : null;
  } catch {
    return;
  }
  if (mode?.sandbox !== true) return;
  const list = document.getElementById('test-cards');
  list.replaceChildren(
    ...TEST_CARDS.map((card) => {
      const item = document.createElement('li');
      const number = document.createElement('code');
      number.textContent = card.number.replace(/(\d{4})(?=\d)/g, '$1 ');
      const use = document.createElement('button');
      use.type = 'button';
      use.className = 'link';
      use.textContent = 'Use';
      use.setAttribute('aria-label', `Use the ${card.brand} test card`);
      use.addEventListener('click', () => {
        if (isPaid) return;
        const field = document.getElementById('card-number');
        field.value = number.textContent;
        labelButton();
        document.getElementById('expiry').focus();
      });
      item.append(`${card.brand} `, number, ' ', use);
      return item;
    }),
  );
  document.getElementById('sandbox').hidden = false;
}

let isPaying = false;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  // The disabled button stops a double click; the flag also stops a second Enter key.
  if (isPaying || isPaid) return;
  isPaying = true;
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    await pay();
  } catch {
    show('error', 'Something went wrong in this page. Please check the invoice before trying again.');
  } finally {
    isPaying = false;
    form.removeAttribute('aria-busy');
    if (!isPaid) {
      button.disabled = false;
      labelButton();
    }
  }
});
form.addEventListener('input', labelButton);
newPaymentButton.addEventListener('click', startNewPayment);

restoreLastAttempt();
// The form is inert until this script runs (the button ships disabled).
if (!isPaid) {
  labelButton();
  button.disabled = false;
}
void showTestCardsInSandbox();
