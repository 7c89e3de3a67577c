// dashboard/: the web dashboard's files (bundled from web/ by `npm run build`), served at / on the one port.
// Imports nothing of Baton's, only Node (test/architecture/walls.test.ts).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { fileURLToPath } from 'node:url';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
/** Node's HTTP/1.1 and HTTP/2 handlers alike (the one port's handler type). */
export type Handler = (request: Request, response: Response) => void;

export interface DashboardOptions {
  /** The built dashboard (index.html, app.js, app.css). Default: `public/` next to this module. */
  readonly dir?: string;
  /** Every request that is not for the dashboard. */
  readonly next: Handler;
}

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

/** Same origin only: the page talks to the API it came from and loads nothing from elsewhere. */
const SECURITY = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const defaultDir = (): string => fileURLToPath(new URL('./public/', import.meta.url));

function load(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = TYPES[entry.name.slice(entry.name.lastIndexOf('.') + 1)];
    if (!entry.isFile() || type === undefined) continue;
    const body = readFileSync(`${dir}/${entry.name}`);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(entry.name, { body, type, etag });
  }
  return files;
}

const isDashboardUrl = (url: string): boolean =>
  url === '/' || url.startsWith('/dashboard/') || url.startsWith('/?') || url.startsWith('/index.html');

const finish = (request: Request, response: Response, body: string | Buffer): void => {
  if (request.method === 'HEAD') response.end();
  else response.end(body);
};

/**
 * The dashboard: `GET /` is the page, `GET /dashboard/<file>` its script and styles; anything else
 * goes on to `next`. The files are read once, when the server starts (they are small and only
 * change with a build), and answered with an ETag so a reload costs a 304. When the bundle was
 * never built, `/` says how to build it instead of a bare 404.
 */
export function createDashboard(options: DashboardOptions): Handler {
  const dir = options.dir ?? defaultDir();
  const files = load(dir);
  const { next } = options;
  return (request, response) => {
    const url = request.url ?? '';
    // Every request of the port passes here first: RPC and REST paths go on after one startsWith.
    if (!isDashboardUrl(url)) {
      next(request, response);
      return;
    }
    const path = url.split('?', 1)[0] ?? '';
    const name =
      path === '/' || path === '/index.html' ? 'index.html' : /^\/dashboard\/([\w.-]+)$/.exec(path)?.[1];
    if (name === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) {
      next(request, response);
      return;
    }
    const file = files.get(name);
    if (file === undefined) {
      const body =
        name === 'index.html'
          ? `The dashboard is not built: \`npm run build\` bundles web/ into ${dir}\n`
          : `no dashboard file ${name}\n`;
      response.writeHead(name === 'index.html' ? 503 : 404, {
        'content-type': TYPES.txt!,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      finish(request, response, body);
      return;
    }
    const headers = { ...SECURITY, 'cache-control': 'no-cache', etag: file.etag };
    if (request.headers['if-none-match'] === file.etag) {
      response.writeHead(304, headers);
      response.end();
      return;
    }
    response.writeHead(200, { ...headers, 'content-type': file.type, 'content-length': file.body.length });
    finish(request, response, file.body);
  };
}
