import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { Client } from 'pg';
import { seed } from '../scripts/seed';
import { newProfiles, profilesIn, summarise } from './lib/profile';
import { createProgress } from './lib/progress';
import { freshSchema } from './lib/schema';
import { ROOT } from './lib/server';
import { mergedProfiles, writeReport, type Results } from './report';
import { chat } from './suites/chat';
import { crossInstance } from './suites/cross-instance';
import { fanout } from './suites/fanout';
import { NESTED_QUERY_STEPS, nestedQuery } from './suites/nested-query';
import { paginationDepth } from './suites/pagination-depth';
import { scaling } from './suites/scaling';
import { webhooks } from './suites/webhooks';

const ALL = ['S1', 'S2', 'S3', 'S5', 'S6', 'S7', 'S8'] as const;
type Suite = (typeof ALL)[number];

/**
 * `npm run bench`: seeds its own data in fresh PostgreSQL schemas, starts Parley as a separate
 * production process for each suite, runs every suite with its baseline in the same run, checks
 * every response, and writes bench/results.json, BENCHMARKS.md and bench/charts/*.svg.
 * `BENCH_ONLY=S1,S3` runs some suites; `BENCH_QUICK=1` runs shorter phases with fewer subscribers
 * (figures then only show the harness works); `BENCH_PROFILE_DIR=<dir>` profiles every Parley process
 * and adds where each suite's CPU went to the report.
 */
async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const quick = process.env.BENCH_QUICK === '1';
  const only = new Set((process.env.BENCH_ONLY?.split(',') ?? ALL) as Suite[]);
  const stamp = Date.now();
  const schemas: string[] = [];
  const schemaFor = (suite: string) => {
    const schema = `bench_${stamp}_${suite.toLowerCase()}`;
    schemas.push(schema);
    return schema;
  };
  const fanoutCounts = quick ? [200, 500] : [1_000, 5_000, 10_000];
  const chatRates = quick ? [100, 200] : [250, 500, 1_000, 1_500, 2_000];
  const scalingSizes = quick ? [1, 2] : [1, 2, 4];
  const steps = (only.has('S1') ? NESTED_QUERY_STEPS : 0) + (only.has('S2') ? 1 : 0) + (only.has('S3') ? fanoutCounts.length * 4 + 1 : 0) + (only.has('S5') ? 2 : 0) + (only.has('S6') ? chatRates.length + 1 : 0) + (only.has('S7') ? 3 : 0) + (only.has('S8') ? scalingSizes.length * 2 + 1 : 0);
  const progress = createProgress(steps);
  const results: Results = {
    at: new Date().toISOString(),
    quick,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    suites: {},
  };
  const started = Date.now();
  // BENCH_PROFILE_DIR: every Parley process writes a CPU profile there; each suite's are summarised.
  const profileDir = process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const profiled = async <T>(suite: Suite, run: () => Promise<T>): Promise<T> => {
    if (!profileDir) return run();
    const before = profilesIn(profileDir);
    const result = await run();
    const files = newProfiles(profileDir, before);
    if (files.length) (results.profiles ??= {})[suite] = summarise(files);
    return result;
  };
  try {
    if (only.has('S1')) {
      const schema = schemaFor('S1');
      const size = quick ? { users: 200, conversations: 300, messages: 30_000 } : { users: 10_000, conversations: 1_000, messages: 1_000_000 };
      console.log(`S1 nested query: seeding ${size.users.toLocaleString('en')} users, ${size.conversations.toLocaleString('en')} conversations, ${size.messages.toLocaleString('en')} messages`);
      const bar = new SingleBar({ format: ' seeding {bar} {percentage}% | {eta_formatted} left', hideCursor: true }, Presets.shades_classic);
      await freshSchema(databaseUrl, schema, (dataSource) => seed(dataSource, { ...size, seed: 1 }, process.stdout.isTTY ? bar : undefined));
      results.suites.nestedQuery = await profiled('S1', () => nestedQuery({ databaseUrl, schema, progress, seconds: quick ? 3 : 10 }));
    }
    if (only.has('S2')) {
      const schema = schemaFor('S2');
      await freshSchema(databaseUrl, schema);
      results.suites.paginationDepth = await profiled('S2', () => paginationDepth({ databaseUrl, schema, rounds: quick ? 50 : Number(process.env.BENCH_ROUNDS ?? 300), progress }));
    }
    if (only.has('S3')) {
      const schema = schemaFor('S3');
      await freshSchema(databaseUrl, schema);
      results.suites.fanout = await profiled('S3', () => fanout({ databaseUrl, schema, counts: fanoutCounts, rates: [1, 5], seconds: quick ? 3 : 10, progress }));
    }
    if (only.has('S5')) {
      const schema = schemaFor('S5');
      await freshSchema(databaseUrl, schema);
      results.suites.crossInstance = await profiled('S5', () => crossInstance({ databaseUrl, schema, redisUrl, progress }));
    }
    if (only.has('S6')) {
      const schema = schemaFor('S6');
      await freshSchema(databaseUrl, schema);
      results.suites.chat = await profiled('S6', () => chat({ databaseUrl, schema, rates: chatRates, seconds: quick ? 3 : 8, progress }));
    }
    if (only.has('S7')) {
      const schema = schemaFor('S7');
      await freshSchema(databaseUrl, schema);
      results.suites.webhooks = await profiled('S7', () => webhooks({ databaseUrl, schema, count: quick ? 300 : 2_000, progress }));
    }
    if (only.has('S8')) {
      const schema = schemaFor('S8');
      await freshSchema(databaseUrl, schema);
      results.suites.scaling = await profiled('S8', () =>
        scaling({ databaseUrl, schema, redisUrl, instances: scalingSizes, rate: quick ? 50 : 100, seconds: quick ? 4 : 15, saturationMessages: quick ? 600 : 3_000, idleSeconds: quick ? 3 : 12, progress }),
      );
    }
  } finally {
    progress.stop();
    const admin = new Client({ connectionString: databaseUrl });
    await admin.connect();
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
    await admin.end();
  }
  results.minutes = Math.round((Date.now() - started) / 600) / 100;
  mkdirSync(path.join(ROOT, 'bench/charts'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  // The profiles are kept apart: a later unprofiled run (undisturbed figures) still reports them.
  // A run of some suites replaces only their profiles.
  if (results.profiles) writeFileSync(path.join(ROOT, 'bench/profiles.json'), `${JSON.stringify(mergedProfiles(results.at, results.profiles), null, 2)}\n`);
  writeReport(results);
  console.log(`done in ${results.minutes} min: BENCHMARKS.md, bench/results.json, bench/charts/`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
