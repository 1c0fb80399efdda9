import type { CursorCodec, CursorKey } from './cursor';
import type { PageRequest } from './page-args';
import type { PageInfo } from './page-info.type';

/** What a keyset query returns for one list: rows in reading order, at most `size + 1` of them. */
export interface PageRows<T> {
  rows: { row: T; key: CursorKey }[];
  /** Whether any row lies on the far side of the request's cursor. */
  beyond: boolean;
}

export interface Connection<E> {
  edges: E[];
  pageInfo: PageInfo;
}

/**
 * Builds a Relay connection from a keyset page: trims the look-ahead row, restores natural order for
 * backward pages, and sets both `has…Page` flags exactly (the look-ahead row says whether more rows
 * follow in the reading direction, `beyond` whether rows lie behind the cursor). Cursors are signed
 * only when read: a nested page of 20 messages under 10 conversations would otherwise sign 200
 * cursors nobody asked for.
 */
export function toConnection<T, E extends { cursor: string }>(
  request: PageRequest,
  page: PageRows<T>,
  codec: CursorCodec,
  list: string,
  edge: (row: T) => Omit<E, 'cursor'>,
): Connection<E> {
  const more = page.rows.length > request.size;
  const rows = page.rows.slice(0, request.size);
  if (request.direction === 'backward') rows.reverse();
  const edges = rows.map(({ row, key }) => {
    let cursor: string | undefined;
    return Object.defineProperty(edge(row), 'cursor', { enumerable: true, get: () => (cursor ??= codec.encode(list, key)) }) as E;
  });
  const forward = request.direction === 'forward';
  return {
    edges,
    pageInfo: {
      hasNextPage: forward ? more : page.beyond,
      hasPreviousPage: forward ? page.beyond : more,
      get startCursor() {
        return edges[0]?.cursor ?? null;
      },
      get endCursor() {
        return edges.at(-1)?.cursor ?? null;
      },
    },
  };
}

/**
 * A top-level list's connection: decodes the request's cursor for `list` (BAD_USER_INPUT when it
 * belongs elsewhere), loads the page from that position, and builds the connection.
 */
export async function loadConnection<T, E extends { cursor: string }>(
  codec: CursorCodec,
  list: string,
  request: PageRequest,
  load: (cursorKey: CursorKey | null) => Promise<PageRows<T>>,
  edge: (row: T) => Omit<E, 'cursor'>,
): Promise<Connection<E>> {
  const page = await load(request.cursor ? codec.decode(list, request.cursor) : null);
  return toConnection(request, page, codec, list, edge);
}
