import { createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './observability/logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  const logger = createLogger(config);
  const app = await createApp(config, { logger });

  let firstSignalAt: number | undefined;
  const shutdown = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined) {
      // `npm start` forwards the terminal's Ctrl-C, so one key press arrives twice: only a later one forces.
      if (Date.now() - firstSignalAt < 1_000) return;
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    firstSignalAt = Date.now();
    logger.info({ signal }, 'shutting down: refusing new work, draining HTTP, closing WebSockets with 1001');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  await app.start();
  if (config.env !== 'production') {
    // Where to go next, for whoever just ran `npm start` (production keeps its output to JSON logs).
    const base = app.url.replace(/\/graphql$/, '');
    const lines = [
      `  API (HTTP and WebSocket)  ${app.url}`,
      `  Apollo Sandbox            ${app.url}  (open it in a browser)`,
      ...(config.http.uiEnabled ? [`  Live dashboard            ${base}/dashboard  (ADMIN accounts: npm run admin:grant -- <handle>)`, `  Chat demo                 ${base}/demo`] : []),
      `  Metrics                   ${base}/metrics`,
    ];
    process.stdout.write(`\nParley is up:\n${lines.join('\n')}\n\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
