import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { BadUserInputError } from '../errors';
import { sameSecret } from '../secrets';

/** A position in one list: the values of the list's ordering key at a row. JSON-safe. */
export type CursorKey = (string | number | null)[];

export interface CursorCodec {
  /** `list` names the list and its owner (e.g. `messages:<conversationId>`); a cursor only works there. */
  encode(list: string, key: CursorKey): string;
  /** The key, or BAD_USER_INPUT for a cursor that was altered, made up, or issued by another list. */
  decode(list: string, cursor: string): CursorKey;
}

const SIGNATURE_BYTES = 12;

/**
 * Opaque cursors: base64url JSON of `[list, key]` plus a truncated HMAC, so a client can neither
 * forge a position nor replay a cursor from one list in another. The key is derived from the JWT
 * secret, which every instance of a cluster shares.
 */
export function createCursorCodec(secret: string): CursorCodec {
  const key = Buffer.from(hkdfSync('sha256', secret, 'parley', 'pagination-cursor', 32));
  const sign = (payload: string) => createHmac('sha256', key).update(payload).digest().subarray(0, SIGNATURE_BYTES);
  // The list name may hold a whole search text: a short digest of it keeps cursors small.
  const listId = (list: string) => createHash('sha256').update(list).digest('base64url').slice(0, 16);
  const invalid = (cursor: string, why: string) => new BadUserInputError(`Cursor "${cursor.slice(0, 80)}" ${why}.`, { argument: 'cursor' });

  return {
    encode(list, values) {
      const payload = Buffer.from(JSON.stringify([listId(list), values])).toString('base64url');
      return `${payload}.${sign(payload).toString('base64url')}`;
    },
    decode(list, cursor) {
      const [payload, signature, extra] = cursor.split('.');
      if (!payload || !signature || extra !== undefined || cursor.length > 1024) throw invalid(cursor, 'is not a cursor Parley issued');
      const expected = sign(payload);
      const given = Buffer.from(signature, 'base64url');
      if (!sameSecret(given, expected)) throw invalid(cursor, 'is not a cursor Parley issued');
      const [cursorList, values] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [string, CursorKey];
      if (cursorList !== listId(list)) throw invalid(cursor, 'belongs to another list');
      return values;
    },
  };
}
