// web/build.mjs: bundles the dashboard (web/src, preact + connect-web) with esbuild into the folder
// the server serves it from; `npm run build` writes dist/, `npm run build:package` writes lib/.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, process.argv[2] ?? 'dist/src/server/dashboard/public');
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { app: join(root, 'web/src/main.tsx') },
  outdir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web/index.html'), join(outdir, 'index.html'));
