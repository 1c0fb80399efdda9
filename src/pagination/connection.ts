import type { CursorCodec, CursorKey } from './cursor';
import type { PageRequest } from './page-args';
import type { PageInfo } from './page-info.type';

/**
 * What a keyset query returns for one list: rows in reading order, at most `size + 1` of them, and
 * each row's key as PostgreSQL wrote it (JSON text, read only if a cursor is asked for).
 */
export interface PageRows<T> {
  rows: T[];
  keys: string[];
  /** Whether any row lies on the far side of the request's cursor. */
  beyond: boolean;
}

/** Where keyset pages read their rows (database/sql.ts's `Sql`): plain objects, one per row. */
export interface RowSource {
  rows<T>(text: string, values?: unknown[]): Promise<T[]>;
}

export interface Connection<E> {
  readonly edges: E[];
  readonly pageInfo: PageInfo;
}

/** Signs cursors of one list, from the keys its rows carry. */
export class ListCursors {
  constructor(
    private readonly codec: CursorCodec,
    private readonly list: string,
  ) {}

  cursor(key: string): string {
    return this.codec.encode(this.list, JSON.parse(key) as CursorKey);
  }
}

/** An edge of a connection: its node, and a cursor signed only if a client reads it. */
export class Edge<N> {
  constructor(
    readonly node: N,
    private readonly key: string,
    private readonly cursors: ListCursors,
  ) {}

  get cursor(): string {
    return this.cursors.cursor(this.key);
  }
}

/** Builds the edge of a row (an `Edge`, or a subclass with fields of its own). */
export type EdgeOf<T, E> = (row: T, key: string, cursors: ListCursors) => E;

export const nodeEdge = <T>(row: T, key: string, cursors: ListCursors): Edge<T> => new Edge(row, key, cursors);

class PageInfoOf implements PageInfo {
  constructor(
    readonly hasNextPage: boolean,
    readonly hasPreviousPage: boolean,
    private readonly first: string | undefined,
    private readonly last: string | undefined,
    private readonly cursors: ListCursors,
  ) {}

  get startCursor(): string | null {
    return this.first === undefined ? null : this.cursors.cursor(this.first);
  }

  get endCursor(): string | null {
    return this.last === undefined ? null : this.cursors.cursor(this.last);
  }
}

/**
 * A Relay connection over a keyset page: trims the look-ahead row, restores natural order for
 * backward pages, and sets both `has…Page` flags exactly (the look-ahead row says whether more rows
 * follow in the reading direction, `beyond` whether rows lie behind the cursor). Edges are built
 * once, when first read, and cursors are signed only when read: a nested page of 20 messages under
 * 10 conversations would otherwise sign 200 cursors nobody asked for.
 */
export class KeysetConnection<T, E> implements Connection<E> {
  readonly pageInfo: PageInfo;
  private readonly rows: T[];
  private readonly keys: string[];
  private readonly cursors: ListCursors;
  private built: E[] | undefined;

  constructor(request: PageRequest, page: PageRows<T>, codec: CursorCodec, list: string, private readonly edge: EdgeOf<T, E>) {
    const more = page.rows.length > request.size;
    this.rows = more ? page.rows.slice(0, request.size) : page.rows;
    this.keys = more ? page.keys.slice(0, request.size) : page.keys;
    if (request.direction === 'backward') {
      // Reversed copies: the page may be shared by several fields of one request.
      this.rows = this.rows.slice().reverse();
      this.keys = this.keys.slice().reverse();
    }
    this.cursors = new ListCursors(codec, list);
    const forward = request.direction === 'forward';
    this.pageInfo = new PageInfoOf(forward ? more : page.beyond, forward ? page.beyond : more, this.keys[0], this.keys.at(-1), this.cursors);
  }

  get edges(): E[] {
    if (this.built === undefined) {
      const { rows, keys, cursors, edge } = this;
      const built = new Array<E>(rows.length);
      for (let i = 0; i < rows.length; i++) built[i] = edge(rows[i], keys[i], cursors);
      this.built = built;
    }
    return this.built;
  }
}

/**
 * A top-level list's connection: decodes the request's cursor for `list` (BAD_USER_INPUT when it
 * belongs elsewhere), loads the page from that position, and builds the connection.
 */
export async function loadConnection<T, E>(
  codec: CursorCodec,
  list: string,
  request: PageRequest,
  load: (cursorKey: CursorKey | null) => Promise<PageRows<T>>,
  edge: EdgeOf<T, E>,
): Promise<Connection<E>> {
  const page = await load(request.cursor ? codec.decode(list, request.cursor) : null);
  return new KeysetConnection(request, page, codec, list, edge);
}

/** The connection of a list with nothing in it (or nothing the viewer may see). */
export const emptyConnection: Connection<never> = {
  edges: [],
  pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
};
