import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard and the chat demo, built into dist/ui and served by Parley at /dashboard and /demo
 * (src/ui/static.ts). Everything is bundled: nothing is loaded from a CDN at run time.
 */
const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  // The client helper, from its source (as tsconfig.json's paths say).
  resolve: { alias: { '@parley/client': resolve(here, '../client/src/index.ts') } },
  build: {
    outDir: resolve(here, '../dist/ui'),
    emptyOutDir: true,
    rollupOptions: {
      input: { dashboard: resolve(here, 'dashboard/index.html'), demo: resolve(here, 'demo/index.html') },
    },
  },
});
