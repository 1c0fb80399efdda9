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
    expect(config.auth.jwtTtlSeconds).toBe(7 * 86_400);
  });

  it('names the variable and the bad value', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: 'abc' })).toThrow(
      'DATABASE_POOL_MAX must be a positive integer, got "abc"',
    );
    expect(() => loadConfig({ PORT: '70000' })).toThrow('PORT must be 0..65535, got "70000"');
    expect(() => loadConfig({ JWT_TTL: 'soon' })).toThrow('JWT_TTL must be a duration');
    expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow('REDIS_URL must be a redis://');
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
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) });
    expect(config.auth.jwtSecretGenerated).toBe(false);
    expect(config.log.pretty).toBe(false);
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
});
