import { timingSafeEqual } from 'node:crypto';

/** Compares a secret a client sent with the expected one in constant time (lengths aside). */
export function sameSecret(given: string | Buffer, expected: string | Buffer): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}
