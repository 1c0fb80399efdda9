import { Pool, DatabaseError } from 'pg';
import type { DataSource } from 'typeorm';
import { createSql, type Sql } from '../../src/database/sql';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { TEST_DATABASE_URL } from '../helpers/test-app';

/** Reads of one turn share a round trip (StatementBatch); each caller still gets its own rows or error. */
describe('reads asked for in the same turn', () => {
  const pools: Pool[] = [];
  // createSql reads TypeORM's pool of the primary: here a real pool of one connection, so that every
  // statement of a test goes over the same connection and its prepared statements are reused.
  const sqlOn = (prepared: boolean, max = 1): { sql: Sql; pool: Pool } => {
    const pool = new Pool({ connectionString: TEST_DATABASE_URL, max });
    pools.push(pool);
    return { sql: createSql({ driver: { master: pool } } as unknown as DataSource, { prepared }), pool };
  };
  afterAll(() => Promise.all(pools.map((pool) => pool.end())));

  const probe = (sql: Sql, tag: string) =>
    sql.rows<{ tag: string; pid: number; began: string }>(`SELECT $1::text AS tag, pg_backend_pid() AS pid, now()::text AS began`, [tag]);

  it.each([true, false])('go in one round trip, each answered with its own rows (prepared: %s)', async (prepared) => {
    const { sql } = sqlOn(prepared, 4);
    const answers = await Promise.all([probe(sql, 'a'), probe(sql, 'b'), sql.rows<{ n: number }>('SELECT generate_series(1, $1::int) AS n', [3])]);
    expect(answers[0][0].tag).toBe('a');
    expect(answers[1][0].tag).toBe('b');
    expect(answers[2].map((row) => row.n)).toEqual([1, 2, 3]);
    // One connection and one transaction (one Sync): now() is the transaction's start, the same for all.
    expect(answers[1][0].pid).toBe(answers[0][0].pid);
    expect(answers[1][0].began).toBe(answers[0][0].began);
    // Reads of later turns make a round trip of their own.
    const later = await probe(sql, 'c');
    expect(later[0].began).not.toBe(answers[0][0].began);
  });

  it('prepares a statement once per connection, also when a batch asks for it twice', async () => {
    const { sql } = sqlOn(true);
    for (let round = 0; round < 3; round += 1) {
      const answers = await Promise.all([probe(sql, 'x'), probe(sql, 'y'), probe(sql, 'z')]);
      expect(answers.map(([row]) => row.tag)).toEqual(['x', 'y', 'z']);
    }
  });

  it('fails only the read PostgreSQL refused: the reads before it keep their rows, those it skipped run again together', async () => {
    const { sql } = sqlOn(true);
    const [before, refused, after, skipped] = await Promise.allSettled([
      probe(sql, 'before'),
      sql.rows('SELECT 1 / $1::int AS quotient', [0]),
      sql.rows<{ fresh: string }>(`SELECT 'never prepared before' AS fresh WHERE $1::int = 1`, [1]),
      probe(sql, 'skipped'),
    ]);
    // The refusal did not cost the connection: the skipped reads ran on it, as one more batch.
    const [beforeRow] = (before as PromiseFulfilledResult<Awaited<ReturnType<typeof probe>>>).value;
    const [skippedRow] = (skipped as PromiseFulfilledResult<Awaited<ReturnType<typeof probe>>>).value;
    expect(skippedRow).toMatchObject({ tag: 'skipped', pid: beforeRow.pid });
    expect(skippedRow.began).not.toBe(beforeRow.began);
    expect(before).toMatchObject({ status: 'fulfilled', value: [{ tag: 'before' }] });
    expect(refused.status).toBe('rejected');
    expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(DatabaseError);
    expect((refused as PromiseRejectedResult).reason.code).toBe('22012');
    expect(after).toMatchObject({ status: 'fulfilled', value: [{ fresh: 'never prepared before' }] });
    // The skipped read's statement was not taken for prepared: it still runs, alone and in a batch.
    const again = await Promise.all([sql.rows<{ fresh: string }>(`SELECT 'never prepared before' AS fresh WHERE $1::int = 1`, [1]), probe(sql, 'next')]);
    expect(again[0]).toEqual([{ fresh: 'never prepared before' }]);
    expect(again[1][0].tag).toBe('next');
  });

  it('fails the running read when its backend is terminated; the read it skipped runs on a new connection', async () => {
    const { sql, pool } = sqlOn(true);
    const [{ pid }] = await probe(sql, 'warm');
    const killer = new Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    pools.push(killer);
    const reads = Promise.allSettled([sql.rows('SELECT pg_sleep(30)'), probe(sql, 'waits')] as const);
    // Once the batch is running on that backend, end it.
    for (;;) {
      const { rows } = await killer.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%' AND state = 'active'`, [pid]);
      if (rows.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    const [sleep, waits] = await reads;
    expect(sleep.status).toBe('rejected');
    expect((sleep as PromiseRejectedResult).reason.code).toBe('57P01');
    expect(waits).toMatchObject({ status: 'fulfilled', value: [{ tag: 'waits' }] });
    expect((waits as PromiseFulfilledResult<{ pid: number }[]>).value[0].pid).not.toBe(pid);
    expect(pool.totalCount).toBe(1);
  });

  it('fails every unanswered read when the connection is cut, and reads again once PostgreSQL is back', async () => {
    const target = new URL(TEST_DATABASE_URL);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    try {
      const through = new URL(TEST_DATABASE_URL);
      through.port = String(proxy.port);
      const pool = new Pool({ connectionString: through.toString(), max: 1 });
      pool.on('error', () => undefined); // the idle connection's end, when the proxy cuts it
      pools.push(pool);
      const sql = createSql({ driver: { master: pool } } as unknown as DataSource, { prepared: true });
      await probe(sql, 'warm');
      const reads = Promise.allSettled([sql.rows('SELECT pg_sleep(30)'), probe(sql, 'waits')]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await proxy.block();
      const outcomes = await reads;
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
      await proxy.unblock();
      expect((await probe(sql, 'back'))[0].tag).toBe('back');
    } finally {
      await proxy.close();
    }
  });

  it('sends at most eight reads in one round trip, so that more run side by side on further connections', async () => {
    const { sql } = sqlOn(true, 4);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => probe(sql, `r${i}`)));
    expect(answers.map(([row]) => row.tag)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
    const transactions = new Map<string, number>();
    for (const [row] of answers) transactions.set(`${row.pid} ${row.began}`, (transactions.get(`${row.pid} ${row.began}`) ?? 0) + 1);
    expect([...transactions.values()].sort((a, b) => b - a)).toEqual([8, 8, 4]);
  });

  it('answers a read as soon as it is done, not when the slow read behind it in the batch is', async () => {
    const { sql } = sqlOn(true);
    let slowDone = false;
    const fastRead = probe(sql, 'fast');
    const slow = sql.rows('SELECT pg_sleep(3)').then(() => (slowDone = true));
    const [fast] = await fastRead;
    expect(fast.tag).toBe('fast');
    expect(slowDone).toBe(false);
    await slow;
  });
});
