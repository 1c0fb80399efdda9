import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createHealthRouter, type HealthOptions } from './health';

async function serve(options: HealthOptions): Promise<{ base: string; server: Server }> {
  const app = express().use(createHealthRouter(options));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('health routes', () => {
  const servers: Server[] = [];
  afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

  it('is not ready while shutting down, though still alive', async () => {
    let shuttingDown = false;
    const { base, server } = await serve({ checks: [], isShuttingDown: () => shuttingDown });
    servers.push(server);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    shuttingDown = true;
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'shutting-down' });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('counts a check that does not answer in time as down, and leaves the balancer only for a required one', async () => {
    const slow = () => new Promise((resolve) => setTimeout(resolve, 1_000).unref()); // unref'd: nothing waits for it after the test
    const fast = async () => 'ok';
    const required = await serve({ checks: [{ name: 'slow', check: slow, required: true }, { name: 'fast', check: fast, required: true }], isShuttingDown: () => false, timeoutMs: 50 });
    const optional = await serve({ checks: [{ name: 'slow', check: slow, required: false }, { name: 'fast', check: fast, required: true }], isShuttingDown: () => false, timeoutMs: 50 });
    servers.push(required.server, optional.server);

    const unavailable = await fetch(`${required.base}/readyz`);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toEqual({ status: 'unavailable', checks: { slow: 'down', fast: 'up' } });
    const degraded = await fetch(`${optional.base}/readyz`);
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toEqual({ status: 'degraded', checks: { slow: 'down', fast: 'up' } });
  });
});
