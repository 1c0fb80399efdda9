import type { DataSource } from 'typeorm';
import type { CursorKey } from './cursor';
import type { PageRows } from './connection';
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
  /** The child columns to return (see `entityColumns`). */
  select: string;
  /** Optional per-parent figures computed once per parent, e.g. `(SELECT count(*) …) AS "__total"`. */
  perParent?: string;
}

export interface BatchedPage<T = Record<string, unknown>> extends PageRows<T> {
  /** Columns named by `perParent`, for this parent. */
  extra: Record<string, unknown>;
}

/**
 * One SQL statement for the same page of many parents' child lists: a LATERAL keyset page per
 * parent (an index range scan each, however deep the cursor), plus one EXISTS per parent for the
 * rows behind the cursor. Child lists under a list of parents thus cost one statement per level.
 */
export async function loadBatchedPages(dataSource: DataSource, query: BatchedPageQuery): Promise<Map<string, BatchedPage>> {
  const k = keysetClauses(query.order, query.request, query.cursorKey, 2);
  const sql = `
    SELECT p.parent AS "__parent", b.beyond AS "__beyond"${query.perParent ? `, ${query.perParent.replaceAll('$parent', 'p.parent')}` : ''}, page.*
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
      SELECT ${query.select}, ${k.key} AS "__key", row_number() OVER (ORDER BY ${k.orderBy}) AS "__n"
      FROM ${query.from}
      WHERE ${query.parentColumn} = p.parent AND ${k.seek}
      ORDER BY ${k.orderBy}
      LIMIT ${k.limit}
    ) page ON TRUE
    ORDER BY p.ord, page."__n"`;
  const rows: Record<string, unknown>[] = await dataSource.query(sql, [query.parentIds, ...k.params]);

  const pages = new Map<string, BatchedPage>();
  for (const raw of rows) {
    const parent = raw.__parent as string;
    let page = pages.get(parent);
    if (!page) {
      const extra = Object.fromEntries(Object.entries(raw).filter(([name]) => name.startsWith('__') && !['__parent', '__beyond', '__key', '__n'].includes(name)));
      page = { rows: [], beyond: raw.__beyond as boolean, extra };
      pages.set(parent, page);
    }
    if (raw.__key !== null) page.rows.push({ row: raw, key: raw.__key as CursorKey });
  }
  return pages;
}
