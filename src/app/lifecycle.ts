import type { Logger } from '../observability/logger';

/**
 * What the composition root started, to be stopped in reverse order: every part registers its
 * `dispose` as it comes up, so a start-up that fails half-way undoes exactly what it did.
 */
export function createLifecycle(logger: Logger) {
  const parts: { name: string; dispose: () => Promise<unknown> | unknown }[] = [];
  let shuttingDown = false;
  let stopping: Promise<void> | undefined;
  return {
    add(name: string, dispose: () => Promise<unknown> | unknown): void {
      parts.push({ name, dispose });
    },
    /** True from the first `stop()`: /readyz then answers 503. */
    get shuttingDown(): boolean {
      return shuttingDown;
    },
    /** Stops every part, last started first; a part that fails to stop is logged and the rest go on. Safe to call again. */
    stop(): Promise<void> {
      return (stopping ??= (async () => {
        shuttingDown = true;
        for (const { name, dispose } of parts.reverse()) {
          try {
            logger.debug({ component: name }, 'stopping');
            await dispose();
          } catch (error) {
            logger.error({ err: error, component: name }, 'failed to stop cleanly');
          }
        }
        logger.info('stopped');
      })());
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
