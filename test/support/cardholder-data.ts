import { randomInt } from 'node:crypto';
import { passesLuhn } from '../../src/cardholder-data';

/** Test cards and ACH accounts iCG's integration notes document (ICG.md). */
export const TEST_CARDS = ['4111111111111111', '5454545454545454', '378282246310005', '6011000990139424'] as const;
export const TEST_ACCOUNTS = [
  { routing: '083000056', account: '446674336' },
  { routing: '083000108', account: '115654668777' },
] as const;

/** A random Luhn-valid card number of 15 or 16 digits. */
export function randomCardNumber(): string {
  const length = randomInt(15, 17);
  let digits = String(randomInt(3, 7));
  while (digits.length < length - 1) digits += String(randomInt(0, 10));
  for (let check = 0; check < 10; check += 1) if (passesLuhn(`${digits}${check}`)) return `${digits}${check}`;
  throw new Error('unreachable: one check digit always passes');
}

/** A random bank account number of 8 to 14 digits (not a card number). */
export function randomAccountNumber(): string {
  for (;;) {
    let digits = String(randomInt(1, 10));
    const length = randomInt(8, 15);
    while (digits.length < length) digits += String(randomInt(0, 10));
    if (!(digits.length >= 13 && passesLuhn(digits))) return digits;
  }
}

/** A random 3- or 4-digit card verification code. */
export function randomCvv(): string {
  return String(randomInt(100, 10000));
}

/** Every way a secret of ours could show up in a text: the digits themselves, or a CVV as a JSON value or after its name. */
export function leaksOf(text: string, secrets: { numbers: readonly string[]; cvvs: readonly string[] }): string[] {
  const found: string[] = [];
  for (const number of secrets.numbers) if (text.includes(number)) found.push(number);
  for (const cvv of secrets.cvvs) if (text.includes(`"${cvv}"`) || text.includes(`\\"${cvv}\\"`)) found.push(`cvv ${cvv}`);
  const named = /(cvv\d?|cvc\d?)\\?["']?\s*[:=]\s*\\?["']?\d{3,4}/i.exec(text);
  if (named) found.push(named[0]);
  return found;
}
