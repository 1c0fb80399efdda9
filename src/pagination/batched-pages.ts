import type { CursorKey } from './cursor';
import type { PageRows, RowSource } from './connection';
import { keysetClauses, type KeyOrder } from './keyset';
import type { PageRequest } from './page-args';

export interface BatchedPageQuery {
  /** The parents whose child lists are wanted (e.g. conversation ids). */
  parentIds: readonly string[];
  request: PageRequest;
  /** The decoded cursor, the same for every parent of the batch (validated per parent by the caller). */
  cursorKey: CursorKey | null;
  order: KeyOrder;
  /** FROM clause of the child rows, e.g. `messages m`. */
  from: string;
  /** The child column that points at the parent, e.g. `m.conversation_id`. */
  parentColumn: string;
  /** The child columns to return (see `Sql.columns`). */
  select: string;
  /** Optional per-parent figures computed once per parent, e.g. `(SELECT count(*) …) AS "__total"`. */
  perParent?: string;
}

/** One parent's page. Its rows are as `sql` gives them, with `__ord`, `__key` and the `perParent` columns on each. */
export interface BatchedPage<T = Record<string, unknown>> extends PageRows<T> {
  /** The `perParent` columns, for this parent (also when its page is empty). */
  extra: Record<string, unknown>;
}

interface BatchRow {
  /** The parent's position in `parentIds`, from 1 (a small number, not its id, on every row). */
  __ord: number;
  __beyond: boolean;
  __key: string | null;
}

/**
 * One SQL statement for the same page of many parents' child lists: a LATERAL keyset page per
 * parent (an index range scan each, however deep the cursor), plus one EXISTS per parent for the
 * rows behind the cursor. Child lists under a list of parents thus cost one statement per level.
 */
export async function loadBatchedPages<T = Record<string, unknown>>(sql: RowSource, query: BatchedPageQuery): Promise<Map<string, BatchedPage<T>>> {
  const k = keysetClauses(query.order, query.request, query.cursorKey, 2);
  const text = `
    SELECT p.ord::int AS "__ord", b.beyond AS "__beyond"${query.perParent ? `, ${query.perParent.replaceAll('$parent', 'p.parent')}` : ''}, page.*
    FROM unnest($1::uuid[]) WITH ORDINALITY AS p(parent, ord)
    CROSS JOIN LATERAL (
      SELECT ${
        k.beyond === 'FALSE'
          ? 'FALSE'
          : `(SELECT TRUE FROM ${query.from} WHERE ${query.parentColumn} = p.parent AND ${k.beyond} ORDER BY ${k.beyondOrderBy} LIMIT 1) IS NOT NULL`
      } AS beyond
      OFFSET 0 -- a fence: evaluate once per parent, not once per page row
    ) b
    LEFT JOIN LATERAL (
      SELECT ${query.select}, ${k.key}::text AS "__key", row_number() OVER (ORDER BY ${k.orderBy})::int AS "__n"
      FROM ${query.from}
      WHERE ${query.parentColumn} = p.parent AND ${k.seek}
      ORDER BY ${k.orderBy}
      LIMIT ${k.limit}
    ) page ON TRUE
    ORDER BY p.ord, page."__n"`;
  const rows = await sql.rows<T & BatchRow>(text, [query.parentIds, ...k.params]);

  const pages = new Map<string, BatchedPage<T>>();
  let page: BatchedPage<T> = { rows: [], keys: [], beyond: false, extra: {} };
  let ord = 0;
  for (const row of rows) {
    // Rows come grouped by parent (ORDER BY p.ord), so a change of parent starts its page.
    if (row.__ord !== ord) {
      ord = row.__ord;
      page = { rows: [], keys: [], beyond: row.__beyond, extra: row as unknown as Record<string, unknown> };
      pages.set(query.parentIds[ord - 1], page);
    }
    if (row.__key === null) continue; // the one row of an empty page
    page.rows.push(row);
    page.keys.push(row.__key);
  }
  return pages;
}
