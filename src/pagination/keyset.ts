import { BadUserInputError } from '../errors';
import type { CursorKey } from './cursor';
import type { PageRequest } from './page-args';

/** One column of a list's ordering key: an SQL expression and the type its cursor value casts to. */
export interface KeyColumn {
  sql: string;
  type: 'int' | 'uuid' | 'timestamptz' | 'text' | 'float8';
}

/**
 * A list's natural order: key columns that together are unique, all ascending or all descending
 * (so one row comparison `(a, b) > ($1, $2)` seeks it, and one index serves it).
 */
export interface KeyOrder {
  columns: KeyColumn[];
  descending: boolean;
}

export interface KeysetClauses {
  /** Row comparison that starts the page after/before the cursor (`TRUE` without one). */
  seek: string;
  /** Rows on the far side of the cursor, the cursor row included: feeds the opposite `has…Page`. */
  beyond: string;
  /** ORDER BY walking away from the cursor on the far side: `… ORDER BY beyondOrderBy LIMIT 1` is one index probe (an
   * EXISTS would let the planner drop the order and pick a sequential scan). */
  beyondOrderBy: string;
  /** ORDER BY in reading direction (reversed for backward pages; `toConnection` restores order). */
  orderBy: string;
  /** Selects the row's key as a JSON array: the cursor payload, lossless (microsecond timestamps). */
  key: string;
  /** One more than the page size: the extra row tells whether more rows follow. */
  limit: number;
  params: unknown[];
}

/**
 * Keyset (seek) pagination clauses: cost depends on the page size, never on how deep the page is.
 * Cursor values become parameters from `$<firstParam>` on, each cast to its column's type.
 */
export function keysetClauses(order: KeyOrder, request: PageRequest, cursorKey: CursorKey | null, firstParam: number): KeysetClauses {
  const ascending = order.descending === (request.direction === 'backward');
  const row = `(${order.columns.map((c) => c.sql).join(', ')})`;
  const key = `json_build_array(${order.columns.map((c) => c.sql).join(', ')})`;
  const orderBy = order.columns.map((c) => `${c.sql} ${ascending ? 'ASC' : 'DESC'}`).join(', ');
  const beyondOrderBy = order.columns.map((c) => `${c.sql} ${ascending ? 'DESC' : 'ASC'}`).join(', ');
  if (!cursorKey) return { seek: 'TRUE', beyond: 'FALSE', beyondOrderBy, orderBy, key, limit: request.size + 1, params: [] };
  if (!Array.isArray(cursorKey) || cursorKey.length !== order.columns.length) {
    // Signed by us, but for a list whose order has since changed (an older release): ask for a fresh page.
    throw new BadUserInputError('This cursor is out of date; start again from the first page.', { argument: 'cursor' });
  }
  const placeholders = `(${order.columns.map((c, i) => `$${firstParam + i}::${c.type}`).join(', ')})`;
  return {
    seek: `${row} ${ascending ? '>' : '<'} ${placeholders}`,
    beyond: `${row} ${ascending ? '<=' : '>='} ${placeholders}`,
    beyondOrderBy,
    orderBy,
    key,
    limit: request.size + 1,
    params: cursorKey,
  };
}
