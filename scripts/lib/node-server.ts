import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

/** The project's root, from scripts/lib or dist/scripts/lib. */
export const ROOT = [path.resolve(__dirname, '../..'), path.resolve(__dirname, '../../..')].find((dir) => !dir.endsWith('/dist') && !dir.endsWith('/scripts'))!;

/**
 * The Node options Parley's server runs with, wherever it is started (`npm start`, the Dockerfile,
 * the cluster script, the benchmarks; test/start-command.test.ts keeps them in step). A young
 * generation of 32 MB per semi-space instead of 16: requests that wait on PostgreSQL keep their rows
 * and half-built answers alive across minor collections, which at 16 MB copied and promoted them to
 * the old generation and spent about 40% of the server's CPU on garbage collection (bench S1).
 */
export const SERVER_NODE_OPTIONS = ['--max-semi-space-size=32'];

/** A Node server process started by `startNodeServer`. */
export interface NodeServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  child: ChildProcess;
  /** The last 8 KB it printed (stdout and stderr). */
  output(): string;
  /** SIGTERM (a graceful stop), then SIGKILL after 15 s; resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL: no drain, no goodbye (what a crash or an OOM kill looks like). */
  kill(): Promise<void>;
}

/** A port nothing listens on now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/**
 * Starts `node [nodeArgs] script` on 127.0.0.1:`port` with only `env` (plus PATH and HOME), and
 * resolves once its `/readyz` answers 200. `execPath` runs another Node than this one (the bench's
 * PostGraphile peer needs Node 22).
 */
export async function startNodeServer(script: string, env: Record<string, string>, port: number, nodeArgs: string[] = [], execPath = process.execPath): Promise<NodeServer> {
  const child = spawn(execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const base = `http://127.0.0.1:${port}`;
  let stopping = false;
  // A server that dies on its own says why: its last output goes to this process's stderr.
  child.once('exit', (code, signal) => {
    if (!stopping && (code || signal)) process.stderr.write(`\n${path.basename(script)} exited (${code ?? signal}):\n${output}\n`);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${path.basename(script)} exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${path.basename(script)} did not become ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    base,
    port,
    child,
    output: () => output,
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }
      await exited(child);
    },
    kill: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    },
  };
}
