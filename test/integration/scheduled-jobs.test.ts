import { startTestApp, type TestApp } from '../helpers/test-app';

let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await startTestApp();
  b = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
});
afterAll(async () => {
  await b.stop();
  await a.stop();
});

/** Runs of the every-minute rollup job, whatever their outcome, counted by one instance. */
async function rollupRuns(app: TestApp): Promise<number> {
  const text = await (await fetch(app.url.replace(/\/graphql$/, '/metrics'))).text();
  return [...text.matchAll(/^parley_job_runs_total\{queue="metrics-rollup",outcome="\w+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe('scheduled jobs', () => {
  it('run once per schedule across the cluster, though every instance runs workers', async () => {
    // pg-boss checks cron schedules every 30 s: the first minute boundary fires within about 95 s.
    const deadline = Date.now() + 100_000;
    let runs = 0;
    while (runs === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      runs = (await rollupRuns(a)) + (await rollupRuns(b));
    }
    expect(runs).toBe(1);
    // Neither instance runs the same tick again (the next one is at least 25 s away).
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect((await rollupRuns(a)) + (await rollupRuns(b))).toBe(1);
  }, 120_000);
});
