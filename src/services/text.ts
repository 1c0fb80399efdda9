import { BadUserInputError } from '../errors';

/** Length as people count it: Unicode code points, so an emoji is one character, not two UTF-16 units. */
export const codePoints = (text: string): number => {
  let count = 0;
  for (const _ of text) count++;
  return count;
};

/**
 * Characters that show nothing: whitespace, controls, and default-ignorable ones (zero-width
 * spaces and joiners, bidi marks, variation selectors, fillers). A text of only these looks empty.
 */
const INVISIBLE = /^[\p{White_Space}\p{Cc}\p{Default_Ignorable_Code_Point}]*$/u;

/** Reordering and zero-width characters, which in a name can make it read as another (U+202E reverses what follows). */
const DISGUISING = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/gu;

/** A message body as stored: trimmed, with at least one visible character, 1..maxLength code points. */
export function checkBody(body: string, maxLength: number): string {
  const text = body.trim();
  const length = codePoints(text);
  if (length < 1 || length > maxLength) {
    throw new BadUserInputError(`body must be 1 to ${maxLength} characters after trimming, got ${length}.`, {
      fields: [{ field: 'body', message: `must be 1 to ${maxLength} characters` }],
    });
  }
  if (INVISIBLE.test(text)) {
    throw new BadUserInputError('body must contain at least one visible character.', { fields: [{ field: 'body', message: 'must contain a visible character' }] });
  }
  return text;
}

/**
 * A display name as stored: NFC-normalised (one spelling per look), without bidi controls and
 * zero-width characters, trimmed, with a visible character, at most `maxLength` code points.
 */
export function cleanDisplayName(name: string, maxLength = 64): string {
  const cleaned = name.normalize('NFC').replace(DISGUISING, '').trim();
  const length = codePoints(cleaned);
  if (length < 1 || length > maxLength || INVISIBLE.test(cleaned)) {
    throw new BadUserInputError(`displayName: must be 1 to ${maxLength} characters with a visible one, got ${length}.`, {
      fields: [{ field: 'displayName', message: `must be 1 to ${maxLength} characters` }],
    });
  }
  return cleaned;
}
