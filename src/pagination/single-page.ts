import type { CursorKey } from './cursor';
import type { PageRows, RowSource } from './connection';
import { keysetClauses, type KeyOrder } from './keyset';
import type { PageRequest } from './page-args';

export interface PageQuery {
  request: PageRequest;
  cursorKey: CursorKey | null;
  order: KeyOrder;
  /** FROM clause (joins allowed). */
  from: string;
  /** Filter of the list; its parameters are `$1…$n` from `params`. */
  where: string;
  params: unknown[];
  /** Selected columns; the key columns of `order` must be computable from `from`. */
  select: string;
}

/**
 * One keyset page of a top-level list (one statement; cost independent of depth). Rows come as
 * `sql` gives them, with the list's extra columns `__beyond`, `__key` and `__n` on them.
 */
export async function loadPage<T = Record<string, unknown>>(sql: RowSource, query: PageQuery): Promise<PageRows<T>> {
  const k = keysetClauses(query.order, query.request, query.cursorKey, query.params.length + 1);
  const beyond =
    k.beyond === 'FALSE' ? 'FALSE' : `(SELECT TRUE FROM ${query.from} WHERE (${query.where}) AND ${k.beyond} ORDER BY ${k.beyondOrderBy} LIMIT 1) IS NOT NULL`;
  // The page joins a one-row "beyond" relation, so an empty page still says whether rows lie behind its cursor.
  const text = `
    SELECT b.beyond AS "__beyond", page.*
    FROM (SELECT ${beyond} AS beyond) b
    LEFT JOIN LATERAL (
      SELECT ${query.select}, ${k.key}::text AS "__key", row_number() OVER (ORDER BY ${k.orderBy})::int AS "__n"
      FROM ${query.from}
      WHERE (${query.where}) AND ${k.seek}
      ORDER BY ${k.orderBy}
      LIMIT ${k.limit}
    ) page ON TRUE
    ORDER BY page."__n"`;
  const rows = await sql.rows<T & { __beyond: boolean; __key: string | null }>(text, [...query.params, ...k.params]);
  const page: PageRows<T> = { rows: [], keys: [], beyond: rows[0]?.__beyond ?? false };
  for (const row of rows) {
    if (row.__key === null) continue; // the one row of an empty page, saying only `beyond`
    page.rows.push(row);
    page.keys.push(row.__key);
  }
  return page;
}
