import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface FleetStats {
  received: number;
  open: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** A load-generator process of WebSocket clients (fleet-worker.ts), driven over IPC. */
export class Fleet {
  private readonly child: ChildProcess;
  private pending: ((reply: unknown) => void)[] = [];

  constructor() {
    this.child = fork(path.join(__dirname, 'fleet-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply) => this.pending.shift()?.(reply));
  }

  private ask<T>(command: object): Promise<T> {
    return new Promise((resolve) => {
      this.pending.push(resolve as (reply: unknown) => void);
      this.child.send(command);
    });
  }

  connect(options: { url: string; count: number; mode: 'graphql' | 'raw'; tokens?: string[]; query?: string; variables?: Record<string, unknown>; subscribe?: boolean }) {
    return this.ask<{ connected: number; failed: number }>({ cmd: 'connect', tokens: [], ...options });
  }

  reset() {
    return this.ask<{ ok: true }>({ cmd: 'reset' });
  }

  stats() {
    return this.ask<FleetStats>({ cmd: 'stats' });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.ask({ cmd: 'close' });
    await exited;
  }
}

/** Polls the fleet until `expected` messages arrived or `timeoutMs` passed; returns the last stats. */
export async function settle(fleet: Fleet, expected: number, timeoutMs = 20_000): Promise<FleetStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await fleet.stats();
    if (stats.received >= expected || Date.now() > deadline) return stats;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
