import { z } from 'zod';
import { parseDuration } from './duration';

// The shapes environment variables may take: each refuses a bad value with a message that
// loadConfig (config.ts) completes with the variable's name and the value it was given.

export const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\/\S+$/.test(v), 'must be a postgres:// or postgresql:// URL');
export const redisUrl = z.string().refine((v) => /^rediss?:\/\/\S+$/.test(v), 'must be a redis:// or rediss:// URL');
/** `host:port,host:port,…`: some nodes of a Redis Cluster (the client learns the rest from them). */
export const redisClusterNodes = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.string().regex(/^[\w.-]+:\d{1,5}$/, 'must be host:port entries separated by commas'))
      .min(1, 'must name at least one host:port')
      .transform((nodes) => nodes.map((node) => ({ host: node.slice(0, node.lastIndexOf(':')), port: Number(node.slice(node.lastIndexOf(':') + 1)) }))),
  );
const digits = (message: string) => z.string().regex(/^\d{1,15}$/, message).transform(Number);
export const wholeNumber = digits('must be a whole number');
export const port = digits('must be 0..65535').refine((p) => p <= 65535, 'must be 0..65535');
export const positiveInt = digits('must be a positive integer').refine((n) => n > 0, 'must be a positive integer');
export const bool = z.enum(['true', 'false', '1', '0'], 'must be true or false').transform((v) => v === 'true' || v === '1');
export const duration = z.string().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) ctx.addIssue({ code: 'custom', message: 'must be a duration such as "15m", "12h" or "7d"' });
  return ms ?? 0;
});
/** `Mutation.sendMessage=60/10s,Query.searchMessages=20/1m`: replaces the limits the schema declares. */
export const rateLimitOverrides = z.string().transform((v, ctx) => {
  const overrides: Record<string, { max: number; windowMs: number }> = {};
  for (const item of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([A-Z]\w*\.\w+)=(\d+)\/(\w+)$/.exec(item);
    const windowMs = match ? parseDuration(match[3]) : null;
    if (!match || windowMs === null || Number(match[2]) < 1) {
      ctx.addIssue({ code: 'custom', message: `must be Type.field=max/window items such as "Mutation.sendMessage=60/10s" (bad item ${JSON.stringify(item)})` });
      return overrides;
    }
    overrides[match[1]] = { max: Number(match[2]), windowMs };
  }
  return overrides;
});
/** `30/1m`: at most 30 in any one-minute window. */
export const rate = z.string().transform((v, ctx) => {
  const match = /^(\d+)\/(\w+)$/.exec(v.trim());
  const windowMs = match ? parseDuration(match[2]) : null;
  if (!match || windowMs === null || windowMs % 1000 !== 0 || Number(match[1]) < 1) {
    ctx.addIssue({ code: 'custom', message: 'must be max/window such as "30/1m" (a window of whole seconds)' });
    return { max: 1, windowMs: 1000 };
  }
  return { max: Number(match[1]), windowMs };
});
/**
 * `false`, a number of proxy hops, or the proxies' addresses / subnets (loopback, 10.0.0.0/8, …).
 * Not `true`: trusting every hop believes the left-most X-Forwarded-For entry, which the client writes.
 */
export const trustProxy = z.string().transform((v, ctx): false | number | string[] => {
  if (v === 'false') return false;
  if (v === 'true') {
    ctx.addIssue({ code: 'custom', message: 'must name the proxies (a hop count, or addresses / subnets such as loopback,10.0.0.0/8): true would let any client choose its address' });
    return false;
  }
  if (/^\d+$/.test(v)) return Number(v);
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.every((item) => /^(loopback|linklocal|uniquelocal|[\d.]+(\/\d+)?|[\da-f:]+(\/\d+)?)$/i.test(item))) return list;
  ctx.addIssue({ code: 'custom', message: 'must be false, a hop count, or a list of addresses and subnets' });
  return false;
});
/** `*`, or a comma-separated list of origins (`https://app.example.com`). */
export const corsOrigins = z.string().transform((v, ctx): string[] | '*' => {
  if (v.trim() === '*') return '*';
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.every((origin) => /^https?:\/\/[^/\s]+$/.test(origin))) return list;
  ctx.addIssue({ code: 'custom', message: 'must be * or a comma-separated list of origins such as https://app.example.com' });
  return [];
});
export const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');

