import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';
import type { Logger } from '../observability/logger';

/** Where `npm run build` put the dashboard and the demo (dist/ui), seen from dist/src/ui or src/ui (not ui/, their sources). */
function builtUi(): string | undefined {
  return [path.resolve(__dirname, '../../ui'), path.resolve(__dirname, '../../dist/ui')].find((dir) => existsSync(path.join(dir, 'assets')) && existsSync(path.join(dir, 'demo/index.html')));
}

/**
 * The live dashboard at /dashboard and the chat demo at /demo: static pages built by Vite from ui/
 * (no CDN at run time). Their bundles are content-hashed, so they are cached for a year; the pages
 * themselves are revalidated. `UI_ENABLED=false` leaves them out.
 */
export function createUiRouter(logger: Logger): Router {
  const router = Router();
  const dir = builtUi();
  if (!dir) {
    logger.warn('the dashboard and demo are not built (npm run build): /dashboard and /demo answer 404');
    router.get(['/dashboard', '/demo'], (_req, res) => void res.status(404).type('text').send('Not built: run npm run build.'));
    return router;
  }
  router.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '1y', index: false, fallthrough: false }));
  for (const page of ['dashboard', 'demo']) {
    const file = path.join(dir, page, 'index.html');
    router.get([`/${page}`, `/${page}/`], (_req, res) => {
      res.setHeader('cache-control', 'no-cache');
      // The pages only talk to this origin (HTTP and WebSocket).
      res.setHeader('content-security-policy', "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
      res.sendFile(file);
    });
  }
  return router;
}
