import { Router } from 'express';

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects or times out when it does not. */
  check(): Promise<unknown>;
}

export interface HealthOptions {
  checks: ReadinessCheck[];
  /** True once shutdown has begun: the load balancer should stop sending traffic here. */
  isShuttingDown(): boolean;
  /** Per-check limit, in ms. */
  timeoutMs?: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `GET /healthz`: the process is alive (liveness; never touches a dependency, so an outage does not
 * get healthy instances killed). `GET /readyz`: every dependency answers and no shutdown is under
 * way (readiness); 503 with the failing checks otherwise.
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
    const ready = results.every(([, state]) => state === 'up');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'degraded', checks: Object.fromEntries(results) });
  });
  return router;
}
