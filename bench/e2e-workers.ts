import { performance } from 'node:perf_hooks';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createWorker, type Worker } from '../src/client/index.js';
import { type WorkerMessageSchema, WorkerService } from '../src/client/proto.js';
import { createAsyncQueue } from '../src/wire/async-queue.js';
import { cpuMs, type WorkersConfig, type WorkersReply, type WorkersRequest, wallMs } from './e2e-ipc.js';

/**
 * A worker process of bench/e2e.bench.ts: `workers` SDK workers (src/client, default transport:
 * gRPC over HTTP/2, one connection per process) running no-op tasks. The handler records the
 * receipt time of tracked tasks (the dispatch-latency run: the parent knows when it added each)
 * and of chain steps (metadata.chain); the parent collects them. Also runs the bare ping-pong
 * baseline against the echo server.
 */

const send = (reply: WorkersReply): void => {
  process.send?.(reply);
};

let tasks = 0;
let track = '';
let received: [string, number][] = [];
let chain: [number, number][] = [];

const handler = (task: { id: string; metadata: Record<string, unknown> }): undefined => {
  tasks++;
  if (track !== '' && task.id.startsWith(track)) received.push([task.id, wallMs()]);
  const step = task.metadata.chain;
  if (typeof step === 'number') chain.push([step, wallMs()]);
  return undefined;
};

async function pingPong(url: string, warmup: number, count: number): Promise<number[]> {
  const client = createClient(WorkerService, createGrpcTransport({ baseUrl: url }));
  const queue = createAsyncQueue<MessageInitShape<typeof WorkerMessageSchema>>();
  const replies = client.session(queue)[Symbol.asyncIterator]();
  const rtt: number[] = [];
  try {
    for (let i = 0; i < warmup + count; i++) {
      const start = performance.now();
      queue.push({ kind: { case: 'heartbeat', value: {} } });
      const r = await replies.next();
      if (r.done) throw new Error('echo stream ended');
      if (i >= warmup) rtt.push(performance.now() - start);
    }
  } finally {
    queue.close();
    await replies.return?.();
  }
  return rtt;
}

async function main(config: WorkersConfig): Promise<void> {
  const workers: Worker[] = [];
  const shared = process.env.E2E_SHARED === '1' ? createGrpcTransport({ baseUrl: config.url }) : undefined;
  for (let i = 0; i < config.workers; i++) {
    workers.push(
      createWorker({
        url: config.url,
        id: `${config.idPrefix}-${i}`,
        capabilities: ['work'],
        maxConcurrency: config.maxConcurrency,
        handler,
        token: config.token,
        ...(shared === undefined ? {} : { transport: shared }),
        onEvent: (e) => {
          if (e.type === 'error' || e.type === 'report-refused') {
            console.error(`e2e-workers: ${e.type}`, 'error' in e ? e.error : '');
          }
        },
      }),
    );
  }
  await Promise.all(workers.map((w) => w.start()));

  process.on('message', (request: WorkersRequest) => {
    switch (request.type) {
      case 'collect':
        send({ type: 'collected', tasks, received, chain });
        tasks = 0;
        received = [];
        chain = [];
        break;
      case 'track':
        track = request.prefix;
        break;
      case 'cpu':
        send({ type: 'cpu', ms: cpuMs() });
        break;
      case 'ping-pong':
        pingPong(request.url, request.warmup, request.count).then(
          (rttMs) => send({ type: 'ping-pong', rttMs }),
          (error: unknown) => send({ type: 'error', message: String(error) }),
        );
        break;
      case 'close': {
        const force = AbortSignal.timeout(2000);
        void Promise.all(workers.map((w) => w.stop({ signal: force }))).finally(() => process.exit(0));
        break;
      }
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

await main(JSON.parse(process.argv[2] ?? '{}') as WorkersConfig);
