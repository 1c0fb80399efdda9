import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('starts on embedded defaults with no environment', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.port).toBe(4000);
    expect(config.database.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.database.migrationsRun).toBe(true);
    expect(config.auth.jwtSecretGenerated).toBe(true);
    expect(config.auth.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(config.auth.jwtTtlSeconds).toBe(15 * 60);
    expect(config.auth.refreshTtlMs).toBe(30 * 86_400_000);
  });

  it('names the variable and the bad value', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: 'abc' })).toThrow(
      'DATABASE_POOL_MAX must be a positive integer, got "abc"',
    );
    expect(() => loadConfig({ PORT: '70000' })).toThrow('PORT must be 0..65535, got "70000"');
    expect(() => loadConfig({ JWT_TTL: 'soon' })).toThrow('JWT_TTL must be a duration');
    expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow('REDIS_URL must be a redis://');
  });

  it('reads a Redis Cluster, exclusive with REDIS_URL, and hides its password', () => {
    const { redis } = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b.internal:7001', REDIS_CLUSTER_PASSWORD: 'hunter2-cluster' });
    expect(redis).toMatchObject({ url: undefined, cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b.internal', port: 7001 }], password: 'hunter2-cluster' } });
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_URL: 'redis://10.0.0.1:6379' })).toThrow('REDIS_URL and REDIS_CLUSTER_NODES are exclusive');
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toThrow('REDIS_CLUSTER_NODES must be host:port entries');
    expect(() => loadConfig({ REDIS_CLUSTER_PASSWORD: 'alone' })).toThrow('REDIS_CLUSTER_PASSWORD needs REDIS_CLUSTER_NODES');
  });

  it('reports every problem at once', () => {
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', MIGRATIONS_RUN: 'maybe' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toHaveLength(3);
    }
  });

  it('requires JWT_SECRET in production and hides its value', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow('JWT_SECRET is required when NODE_ENV=production');
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short-secret' })).toThrow(
      'JWT_SECRET must be at least 32 characters, got (hidden)',
    );
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), PERSISTED_QUERIES: 'apq', METRICS_TOKEN: 'y'.repeat(16) });
    expect(config.auth.jwtSecretGenerated).toBe(false);
    expect(config.log.pretty).toBe(false);
  });

  it('refuses to serve /metrics openly in production unless METRICS_PUBLIC says so', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), PERSISTED_QUERIES: 'apq' };
    expect(() => loadConfig(production)).toThrow('METRICS_TOKEN is required when NODE_ENV=production');
    expect(loadConfig({ ...production, METRICS_TOKEN: 'y'.repeat(16) }).http.metricsToken).toBe('y'.repeat(16));
    expect(loadConfig({ ...production, METRICS_PUBLIC: 'true' }).http).toMatchObject({ metricsToken: undefined, metricsPublic: true });
    expect(loadConfig({}).http.metricsPublic).toBe(false);
  });

  it('runs only trusted documents in production unless told otherwise, and then needs the manifest', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), METRICS_TOKEN: 'y'.repeat(16) };
    expect(() => loadConfig({ ...production, PERSISTED_QUERY_MANIFEST: '/nonexistent/manifest.json' })).toThrow(
      'PERSISTED_QUERIES=trusted (the production default) needs a manifest, and PERSISTED_QUERY_MANIFEST names "/nonexistent/manifest.json", which does not exist',
    );
    expect(loadConfig({ ...production, PERSISTED_QUERY_MANIFEST: __filename }).persistedQueries.mode).toBe('trusted');
    expect(loadConfig({}).persistedQueries).toMatchObject({ mode: 'apq', ttlSeconds: 86_400 });
  });

  it('reads an external identity provider, and refuses an incomplete or contradictory one', () => {
    const external = { AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', AUTH_ISSUER: 'https://idp.example.com/', AUTH_AUDIENCE: 'parley' };
    expect(loadConfig(external).auth).toMatchObject({
      passwords: true,
      external: { ...{ jwksUrl: external.AUTH_JWKS_URL, issuer: external.AUTH_ISSUER, audience: 'parley' }, handleClaim: 'preferred_username', jwksTimeoutMs: 2_000, jwksCooldownMs: 30_000, jwksMaxAgeMs: 600_000 },
    });
    expect(loadConfig({}).auth.external).toBeUndefined();
    expect(() => loadConfig({ AUTH_JWKS_URL: external.AUTH_JWKS_URL })).toThrow('AUTH_JWKS_URL needs AUTH_ISSUER and AUTH_AUDIENCE');
    expect(() => loadConfig({ AUTH_ISSUER: 'x' })).toThrow('AUTH_ISSUER and AUTH_AUDIENCE need AUTH_JWKS_URL');
    expect(() => loadConfig({ ...external, AUTH_JWKS_URL: 'ftp://idp.example.com/keys' })).toThrow('AUTH_JWKS_URL must be an http(s) URL');
    expect(() => loadConfig({ ...external, AUTH_ISSUER: 'parley' })).toThrow('AUTH_ISSUER must not be "parley"');
    expect(() => loadConfig({ AUTH_PASSWORDS: 'off' })).toThrow('AUTH_PASSWORDS=off needs AUTH_JWKS_URL');
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), METRICS_PUBLIC: 'true', PERSISTED_QUERIES: 'off' };
    expect(() => loadConfig({ ...production, ...external, AUTH_JWKS_URL: 'http://idp.example.com/keys' })).toThrow('AUTH_JWKS_URL must be https when NODE_ENV=production');
    expect(loadConfig({ ...external, AUTH_PASSWORDS: 'off' }).auth.passwords).toBe(false);
  });

  it('parses rate-limit overrides, proxy trust and CORS origins', () => {
    const config = loadConfig({
      RATE_LIMIT_OVERRIDES: 'Mutation.sendMessage=60/10s, Query.users=5/1m',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
    });
    expect(config.rateLimits.overrides).toEqual({ 'Mutation.sendMessage': { max: 60, windowMs: 10_000 }, 'Query.users': { max: 5, windowMs: 60_000 } });
    expect(config.http).toEqual({ trustProxy: ['loopback', '10.0.0.0/8'], corsOrigins: ['https://app.example.com', 'http://localhost:5173'], uiEnabled: true, metricsPublic: false, maxInFlight: 128 });
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow('TRUST_PROXY must name the proxies');
    expect(() => loadConfig({ RATE_LIMIT_OVERRIDES: 'sendMessage=60' })).toThrow('RATE_LIMIT_OVERRIDES must be Type.field=max/window items');
    expect(() => loadConfig({ CORS_ORIGINS: 'app.example.com' })).toThrow('CORS_ORIGINS must be * or a comma-separated list of origins');
    expect(() => loadConfig({ PERSISTED_QUERIES: 'sometimes' })).toThrow('PERSISTED_QUERIES must be off, apq or trusted, got "sometimes"');
  });

  it('parses lists and flags', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://a@h/db',
      DATABASE_READ_URLS: 'postgres://r1/db, postgres://r2/db',
      MIGRATIONS_RUN: 'false',
    });
    expect(config.database.readUrls).toEqual(['postgres://r1/db', 'postgres://r2/db']);
    expect(config.database.migrationsRun).toBe(false);
  });

  it('refuses a queue bound that a replay would not fit in, and reads UI_ENABLED', () => {
    expect(loadConfig({}).limits.wsMaxQueuedEvents).toBe(2_000);
    expect(() => loadConfig({ WS_MAX_QUEUED_EVENTS: '500' })).toThrow('WS_MAX_QUEUED_EVENTS must be more than REPLAY_LIMIT (500), got 500');
    expect(loadConfig({ WS_MAX_QUEUED_EVENTS: '500', REPLAY_LIMIT: '100' }).limits.wsMaxQueuedEvents).toBe(500);
    expect(loadConfig({ UI_ENABLED: 'false' }).http.uiEnabled).toBe(false);
  });
});
