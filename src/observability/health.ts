import { Router } from 'express';

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects or times out when it does not. */
  check(): Promise<unknown>;
  /**
   * Whether an instance without it should leave the load balancer. False for a dependency the
   * instance works without (Redis: writes still commit to PostgreSQL, and delivery is repaired
   * from the log once it returns): taking every instance out for it would turn a degradation into
   * an outage.
   */
  required: boolean;
}

export type DependencyState = 'up' | 'down';

export interface HealthOptions {
  checks: ReadinessCheck[];
  /** True once shutdown has begun: the load balancer should stop sending traffic here. */
  isShuttingDown(): boolean;
  /** Per-check limit, in ms. */
  timeoutMs?: number;
}

/** `promise`, or a rejection once `ms` have passed without it settling. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs every check at once, each within `timeoutMs`: the state of each dependency by name. */
export async function probeDependencies(checks: ReadinessCheck[], timeoutMs = 2_000): Promise<Record<string, DependencyState>> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => {
      try {
        await withTimeout(check(), timeoutMs);
        return [name, 'up'] as const;
      } catch {
        return [name, 'down'] as const;
      }
    }),
  );
  return Object.fromEntries(results);
}

/**
 * `GET /healthz`: the process is alive (liveness; never touches a dependency, so an outage does not
 * get healthy instances killed). `GET /readyz` (readiness), with the state of every dependency in
 * its body:
 * - 200 `ready`: all answer;
 * - 200 `degraded`: one the instance works without is down (it still serves);
 * - 503 `unavailable`: a required one is down;
 * - 503 `shutting-down`.
 */
export function createHealthRouter({ checks, isShuttingDown, timeoutMs = 2_000 }: HealthOptions): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (isShuttingDown()) {
      res.status(503).json({ status: 'shutting-down' });
      return;
    }
    const states = await probeDependencies(checks, timeoutMs);
    const down = checks.filter(({ name }) => states[name] === 'down');
    const status = down.length === 0 ? 'ready' : down.some((c) => c.required) ? 'unavailable' : 'degraded';
    res.status(status === 'unavailable' ? 503 : 200).json({ status, checks: states });
  });
  return router;
}
