import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';

/**
 * The load generator of bench/unary.bench.ts, forked into its own process so that client CPU is
 * not charged to the server under test. Raw node:http2 speaking gRPC: the same client for every
 * server, so the client's cost is equal. Keeps `concurrency` unary calls in flight on `sessions`
 * connections; only calls that finish inside the measured window count.
 */

export interface LoadRequest {
  readonly url: string;
  readonly path: string;
  /** The gRPC request frame (5-byte prefix + message), hex. */
  readonly frameHex: string;
  readonly concurrency: number;
  readonly sessions: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Sent with every call: the authorization header of the auth-on server. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type LoadMessage =
  | { readonly type: 'measuring' }
  | {
      readonly type: 'result';
      readonly requests: number;
      readonly errors: number;
      readonly seconds: number;
      readonly p50Ms: number;
      readonly p99Ms: number;
      /** Client CPU per call in the window, ms. */
      readonly clientCpuMs: number;
    };

const noop = (): void => {};

const percentile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

async function run(request: LoadRequest): Promise<LoadMessage> {
  const frame = Buffer.from(request.frameHex, 'hex');
  const sessions = await Promise.all(
    Array.from(
      { length: request.sessions },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect(request.url);
          session.once('connect', () => resolve(session));
          session.once('error', reject);
        }),
    ),
  );

  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let next = 0;
  let drained: () => void = noop;

  const record = (ms: number): void => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
  };

  const fire = (): void => {
    const session = sessions[next++ % sessions.length] as http2.ClientHttp2Session;
    const start = performance.now();
    let status: unknown;
    inFlight++;
    const call = session.request({
      ':method': 'POST',
      ':path': request.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...request.headers,
    });
    call.on('response', (headers) => {
      status = headers['grpc-status'];
    });
    call.on('trailers', (trailers) => {
      status = trailers['grpc-status'];
    });
    call.on('data', noop);
    call.on('error', () => {
      status = 'error';
    });
    call.on('close', () => {
      inFlight--;
      if (measuring) {
        if (status === '0') record(performance.now() - start);
        else errors++;
      }
      if (!stopping) fire();
      else if (inFlight === 0) drained();
    });
    call.end(frame);
  };

  for (let i = 0; i < request.concurrency; i++) fire();
  await new Promise((resolve) => setTimeout(resolve, request.warmupMs));
  process.send?.({ type: 'measuring' } satisfies LoadMessage);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, request.durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stopping = true;
  await new Promise<void>((resolve) => {
    drained = resolve;
    if (inFlight === 0) resolve();
  });
  for (const session of sessions) session.close();

  const sorted = latencies.subarray(0, count).sort();
  return {
    type: 'result',
    requests: count,
    errors,
    seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    clientCpuMs: count === 0 ? Number.NaN : (cpu.user + cpu.system) / 1000 / count,
  };
}

process.once('message', (message: LoadRequest) => {
  run(message).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      console.error('load generator failed:', error);
      process.exit(1);
    },
  );
});
