import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, DirectiveLocation, GraphQLDirective, GraphQLInt, GraphQLNonNull, GraphQLString, type GraphQLSchema } from 'graphql';
import type { Context } from '../context';
import { parseDuration } from '../duration';
import { RateLimitedError } from '../errors';
import { addressKey } from '../security/client-address';
import type { RateLimiter } from '../security/rate-limiter';

/** `@rateLimit(max, window)` as the contract defines it; type-graphql fields carry it with `@Directive`. */
export const rateLimitDirective = new GraphQLDirective({
  name: 'rateLimit',
  locations: [DirectiveLocation.FIELD_DEFINITION],
  args: {
    max: { type: new GraphQLNonNull(GraphQLInt), description: 'Most calls allowed per identity (user id, else client IP) inside one window.' },
    window: { type: new GraphQLNonNull(GraphQLString), description: 'Window length such as "10s", "1m", "1h".' },
  },
});

export interface Limit {
  max: number;
  windowMs: number;
}

export interface RateLimitOptions {
  limiter: RateLimiter;
  /** Off: the directive is still checked at start-up, but nothing is counted. */
  enabled: boolean;
  /** Limits that replace (or add to) what the schema declares, keyed `Type.field`. */
  overrides: Record<string, Limit>;
  /** Observes each refused call (metrics). */
  onRefused?: (coordinate: string) => void;
  /**
   * Fields that count per client address even with a token (signIn, signUp): a token there would
   * let each account an attacker makes bring a fresh budget of password guesses.
   */
  byAddress?: string[];
}

function checkLimit(coordinate: string, max: number, windowMs: number | null, window: string): Limit {
  if (!Number.isInteger(max) || max < 1 || windowMs === null || windowMs % 1000 !== 0) {
    throw new Error(`@rateLimit on ${coordinate} needs max ≥ 1 and a window of whole seconds such as "10s" or "1m", got max ${max}, window ${JSON.stringify(window)}`);
  }
  return { max, windowMs };
}

/** Who a call counts against: the signed-in user, else the client's address (its /64 for IPv6). */
export function rateLimitIdentity({ viewer, clientIp }: Context, byAddress = false): string {
  return viewer && !byAddress ? `user:${viewer.id}` : `ip:${addressKey(clientIp)}`;
}

/**
 * Enforces `@rateLimit` by wrapping each limited field's resolver: a call over the limit fails with
 * RATE_LIMITED (and `retryAfterSeconds`) before the resolver runs, so nothing is written. Every
 * resolution counts, so 20 aliases of a limited mutation in one document spend 20 calls. A
 * directive or override that does not parse, or an override naming no field, fails start-up.
 */
export function applyRateLimits(schema: GraphQLSchema, { limiter, enabled, overrides, onRefused, byAddress = [] }: RateLimitOptions): GraphQLSchema {
  const unused = new Set(Object.keys(overrides));
  const limited = mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => {
      const coordinate = `${typeName}.${fieldName}`;
      const declared = getDirective(schema, field, rateLimitDirective.name)?.[0] as { max: number; window: string } | undefined;
      const override = overrides[coordinate];
      unused.delete(coordinate);
      if (!declared && !override) return field;
      const limit = override
        ? checkLimit(coordinate, override.max, override.windowMs, `${override.windowMs}ms`)
        : checkLimit(coordinate, declared!.max, parseDuration(declared!.window), declared!.window);
      if (!enabled) return field;
      const perAddress = byAddress.includes(coordinate);
      const resolve = field.resolve ?? defaultFieldResolver;
      return {
        ...field,
        resolve: async (source, args, context: Context, info) => {
          const verdict = await limiter.consume(`${coordinate}:${rateLimitIdentity(context, perAddress)}`, limit.max, limit.windowMs);
          if (!verdict.allowed) {
            onRefused?.(coordinate);
            throw new RateLimitedError(coordinate, limit, verdict.retryAfterMs);
          }
          return resolve(source, args, context, info);
        },
      };
    },
  });
  if (unused.size > 0) throw new Error(`RATE_LIMIT_OVERRIDES names fields the schema does not have: ${[...unused].join(', ')}`);
  return limited;
}
