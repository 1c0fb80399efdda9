import type { DataSource } from 'typeorm';
import type { CursorKey } from './cursor';
import type { PageRows } from './connection';
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

/** One keyset page of a top-level list (one statement; cost independent of depth). */
export async function loadPage(dataSource: DataSource, query: PageQuery): Promise<PageRows<Record<string, unknown>>> {
  const k = keysetClauses(query.order, query.request, query.cursorKey, query.params.length + 1);
  const beyond =
    k.beyond === 'FALSE' ? 'FALSE' : `(SELECT TRUE FROM ${query.from} WHERE (${query.where}) AND ${k.beyond} ORDER BY ${k.beyondOrderBy} LIMIT 1) IS NOT NULL`;
  // The page joins a one-row "beyond" relation, so an empty page still says whether rows lie behind its cursor.
  const sql = `
    SELECT b.beyond AS "__beyond", page.*
    FROM (SELECT ${beyond} AS beyond) b
    LEFT JOIN LATERAL (
      SELECT ${query.select}, ${k.key} AS "__key", row_number() OVER (ORDER BY ${k.orderBy}) AS "__n"
      FROM ${query.from}
      WHERE (${query.where}) AND ${k.seek}
      ORDER BY ${k.orderBy}
      LIMIT ${k.limit}
    ) page ON TRUE
    ORDER BY page."__n"`;
  const rows: Record<string, unknown>[] = await dataSource.query(sql, [...query.params, ...k.params]);
  return {
    rows: rows.filter((row) => row.__key !== null).map((row) => ({ row, key: row.__key as CursorKey })),
    beyond: (rows[0]?.__beyond as boolean | undefined) ?? false,
  };
}
