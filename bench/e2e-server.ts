import * as http2 from 'node:http2';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { parseAuthFile } from '../src/server/auth/tokens.js';
import { type CoordinatorMessageSchema, WorkerService } from '../src/server/codec/proto.js';
import { startServer } from '../src/server/server.js';
import { openSqliteStore } from '../src/server/store/sqlite-store.js';
import { cpuMs, type ServerConfig, type ServerReply, type ServerRequest, wallMs } from './e2e-ipc.js';
import { type LoopbackServer, listenOnLoopback } from './loopback-h2.js';

/**
 * A server process of bench/e2e.bench.ts. `baton`: startServer on a free loopback port (memory or
 * SQLite store), telling the parent when coord:all-complete becomes true with as many tasks
 * complete as it awaits (after the commit).
 * `echo`: the baseline, a bare connect-node WorkerService.Session that answers every message
 * with one empty Ack, on its own HTTP/2 server: the round trip the DAG step latency is judged by.
 * Prints its URL; the parent reads it from the `ready` message.
 */

const send = (reply: ServerReply): void => {
  process.send?.(reply);
};

type Out = MessageInitShape<typeof CoordinatorMessageSchema>;

async function startEcho(): Promise<LoopbackServer> {
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(WorkerService, {
        async *session(requests) {
          const ack: Out = { kind: { case: 'ack', value: { receipts: [] } } };
          for await (const _ of requests) yield ack;
        },
      }),
  });
  return listenOnLoopback(http2.createServer(handler), 'destroy');
}

async function main(config: ServerConfig): Promise<void> {
  let awaited = Number.POSITIVE_INFINITY;
  let close: () => Promise<void>;
  let url: string;
  if (config.mode === 'echo') {
    const echo = await startEcho();
    url = echo.url;
    close = echo.close;
  } else {
    const server = await startServer({
      port: 0,
      store:
        config.store === 'sqlite' && config.sqliteThread === false
          ? openSqliteStore({ path: config.dbPath ?? './data/baton.db', thread: false })
          : config.store === 'postgres'
            ? (config.pgUrl as `postgres://${string}`)
            : config.store,
      ...(config.dbPath === undefined ? {} : { dbPath: config.dbPath }),
      ...(config.sessionFastPath === false ? { sessionFastPath: false } : {}),
      ...(config.metrics === false ? { metrics: false } : {}),
      ...(config.authFile === undefined ? {} : { auth: { tokens: parseAuthFile(config.authFile, 'bench') } }),
      log: (message, error) => console.error(`e2e-server: ${message}`, error ?? ''),
    });
    url = server.url;
    close = () => server.close();
    server.coordinator.events.on('coord:all-complete', ({ complete }) => {
      // Only the awaited one: in a paced run all-complete fires after nearly every batch.
      if (complete < awaited) return;
      awaited = Number.POSITIVE_INFINITY;
      // Once the state that made all-complete true is stored (with the store in its thread, the
      // commit lands after the turn that started it).
      void server.committed().then(() => send({ type: 'all-complete', at: wallMs(), complete }));
    });
  }
  console.log(`e2e-server (${config.mode}${config.mode === 'baton' ? `, ${config.store}` : ''}): ${url}`);
  process.on('message', (request: ServerRequest) => {
    if (request.type === 'cpu') send({ type: 'cpu', ms: cpuMs() });
    else if (request.type === 'await') awaited = request.complete;
    else if (request.type === 'close') {
      void close().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url });
}

const config = JSON.parse(process.argv[2] ?? '{"mode":"baton","store":"memory"}') as ServerConfig;
await main(config);
