import type { ApolloServerPlugin } from '@apollo/server';
import { BREAK, visit, type DocumentNode } from 'graphql';
import { AppError, ErrorCode } from '../errors';

/**
 * The first place a NUL character (U+0000) appears in an operation's string literals or variables,
 * or null. PostgreSQL text cannot hold one: refused up front as BAD_USER_INPUT, it never reaches
 * SQL as an internal error. Shared by HTTP (the plugin below) and WebSocket (ws-admission.ts).
 */
export function nulCharacterIn(document: DocumentNode, variables: unknown): string | null {
  if (documentHasNul(document)) return 'a string in the document';
  const at = nulCharacterAt(variables);
  return at && `variable ${at.replace(/^\$\./, '$')}`;
}

/** Documents are cached and shared (Apollo's cache, ws-admission's): each is looked through once. */
const documentsSeen = new WeakMap<DocumentNode, boolean>();
function documentHasNul(document: DocumentNode): boolean {
  let seen = documentsSeen.get(document);
  if (seen === undefined) {
    seen = false;
    visit(document, {
      StringValue(node) {
        if (!node.value.includes('\u0000')) return undefined;
        seen = true;
        return BREAK;
      },
    });
    documentsSeen.set(document, seen);
  }
  return seen;
}

/** Where a NUL character (U+0000, which PostgreSQL text cannot hold) is in a JSON value, or null. */
export function nulCharacterAt(value: unknown, path = '$'): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nulCharacterAt(item, `${path}[${i}]`);
      if (found) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const found = nulCharacterAt(item, `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** BAD_USER_INPUT, HTTP 400 (it is refused before execution). */
export const nulCharacterError = (where: string) => new AppError(ErrorCode.BAD_USER_INPUT, `Text may not contain NUL characters (U+0000); found in ${where}.`, {}, 400);

/**
 * Checks HTTP operations before they execute: subscriptions belong on WebSocket (graphql-js would
 * run the subscription field's resolver once, as a query, with no event: a confusing internal
 * error), and text must be free of NUL characters.
 */
export function operationGuards(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (operation?.operation === 'subscription') {
            throw new AppError(ErrorCode.BAD_REQUEST, 'Subscriptions are served over WebSocket (graphql-ws, protocol graphql-transport-ws) at this same URL, not over HTTP.', {}, 400);
          }
          const nul = nulCharacterIn(document, request.variables);
          if (nul) throw nulCharacterError(nul);
        },
      };
    },
  };
}
