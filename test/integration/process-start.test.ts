import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { SERVER_NODE_OPTIONS } from '../../scripts/lib/node-server';
import { gql } from '../helpers/gql';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/test-app';

const entry = path.resolve(__dirname, '../../dist/src/main.js');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface RunningServer {
  url: string;
  output: () => string;
  /** Sends SIGINT (what Ctrl-C does) and resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

const children: ChildProcess[] = [];

/** The built server (`npm start` minus the build) as its own process, with exactly `env`. */
async function startServer(env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(process.execPath, [...SERVER_NODE_OPTIONS, entry], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_PRETTY: 'false', PORT: String(await freePort()), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s:\n${output}`)), 60_000);
    const poll = setInterval(() => {
      const match = /Parley listening on (http:\/\/\S+)/.exec(output);
      if (match || child.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(timer);
        if (match) resolve(match[1]);
        else reject(new Error(`server exited with ${child.exitCode}:\n${output}`));
      }
    }, 50);
  });
  return {
    url,
    output: () => output,
    interrupt: () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

async function signUpAndMe(url: string): Promise<unknown> {
  const handle = `proc_${randomBytes(3).toString('hex')}`;
  const signUp = await gql<{ signUp: { token: string } }>(
    { url },
    `mutation ($h: String!) { signUp(input: { handle: $h, displayName: "Process", email: "${handle}@example.com", password: "long enough password" }) { token } }`,
    { h: handle },
  );
  const me = await gql<{ me: { handle: string } }>({ url }, '{ me { handle } }', {}, { token: signUp.data!.signUp.token });
  return me.data?.me.handle === handle;
}

beforeAll(() => {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: \`npm test\` builds it first (pretest)`);
});
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('npm start with no environment', () => {
  let dataRoot: string;
  beforeAll(() => {
    dataRoot = mkdtempSync(path.join(tmpdir(), 'parley-embedded-'));
    chmodSync(dataRoot, 0o755); // as root, the embedded server runs as the postgres user
  });
  afterAll(() => rmSync(dataRoot, { recursive: true, force: true }));

  it('serves /graphql on an embedded PostgreSQL and leaves no PostgreSQL behind on Ctrl-C', async () => {
    const dataDir = path.join(dataRoot, 'pg');
    const server = await startServer({ EMBEDDED_PG_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) });
    expect(server.output()).toContain('single-instance mode');
    expect(server.output()).toContain('JWT_SECRET is not set');
    expect((await gql(server, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    expect(await signUpAndMe(server.url)).toBe(true);

    const postmasterPid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(isAlive(postmasterPid)).toBe(true);
    expect(await server.interrupt()).toBe(0);
    expect(isAlive(postmasterPid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
  }, 90_000);
});

describe('npm start with DATABASE_URL and REDIS_URL', () => {
  const schema = `proc_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    const client = new Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('runs in cluster mode on the real services and exits 0 on Ctrl-C', async () => {
    const server = await startServer({
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `test:${schema}:`,
    });
    expect(server.output()).toContain('cluster mode: PostgreSQL + Redis');
    expect(await signUpAndMe(server.url)).toBe(true);
    const ready = await fetch(server.url.replace('/graphql', '/readyz'));
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'up', redis: 'up' } });
    expect(await server.interrupt()).toBe(0);
  }, 60_000);
});
