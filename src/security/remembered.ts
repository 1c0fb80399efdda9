import { LRUCache } from 'lru-cache';

/**
 * A yes that is checked on every request (an account is active, a session is signed in) and
 * remembered for `ttlMs`, in an LRU of at most `max` keys: a full cache forgets its least recent
 * keys one by one, never all at once (which would send a burst of reads to PostgreSQL). A no is
 * never remembered; `forget` drops a yes at once when the bus announces that it changed, and the
 * TTL bounds how long an instance that missed the announcement can be wrong.
 */
export function rememberYes<A extends unknown[]>(check: (key: string, ...rest: A) => Promise<boolean>, { ttlMs = 10_000, max = 100_000 }: { ttlMs?: number; max?: number } = {}) {
  const yes = new LRUCache<string, true>({ max, ttl: ttlMs });
  // Bumped by every forget: a yes read before it (still in flight when it came) is not remembered.
  let forgotten = 0;
  return {
    async ask(key: string, ...rest: A): Promise<boolean> {
      if (yes.get(key)) return true;
      const before = forgotten;
      if (!(await check(key, ...rest))) return false;
      if (forgotten === before) yes.set(key, true);
      return true;
    },
    forget(key: string): void {
      forgotten += 1;
      yes.delete(key);
    },
  };
}
