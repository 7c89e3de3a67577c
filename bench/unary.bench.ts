import { fork } from 'node:child_process';
import * as http2 from 'node:http2';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { authLine, createToken, parseAuthFile } from '../src/server/auth/tokens.js';
import { type BatonServer, startServer } from '../src/server/server.js';
import { type LoopbackServer, listenOnLoopback } from './loopback-h2.js';
import { fmt, median } from './stats.js';
import type { LoadMessage, LoadRequest } from './unary-load.js';

/**
 * Unary admin calls with 64 in flight (docs/benchmarks.md, "Unary admin calls"): Baton's server
 * against a raw node:http2 server answering the same gRPC call with a canned response, in the
 * same run, with the same load generator in a separate process.
 */
export const TARGET_RATIO = 0.5;

const PATH = '/coord.v1.CoordinatorService/GetProgress';
/** GetProgressRequest is empty: a 5-byte frame with length 0. */
const REQUEST_FRAME = Buffer.from([0, 0, 0, 0, 0]);

interface Options {
  readonly rounds: number;
  readonly concurrency: number;
  readonly sessions: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

interface Run {
  readonly server: string;
  readonly round: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One gRPC call over a fresh session: the response message's bytes. */
function grpcCall(
  url: string,
  path: string,
  frame: Buffer,
  headers: Readonly<Record<string, string>> = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once('error', reject);
    const call = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      ...headers,
    });
    const chunks: Buffer[] = [];
    let status: unknown;
    call.on('response', (h) => {
      status = h['grpc-status'];
    });
    call.on('trailers', (t) => {
      status = t['grpc-status'];
    });
    call.on('data', (chunk: Buffer) => chunks.push(chunk));
    call.on('end', () => {
      session.close();
      const body = Buffer.concat(chunks);
      if (status !== '0' || body.length < 5) reject(new Error(`call failed: grpc-status ${String(status)}`));
      else resolve(body.subarray(5));
    });
    call.end(frame);
  });
}

/** The baseline: node:http2's stream API, parse the frame, answer one frame and the trailers. */
async function startRawServer(path: string, response: Buffer): Promise<LoopbackServer> {
  const frame = Buffer.alloc(5 + response.length);
  frame.writeUInt32BE(response.length, 1);
  response.copy(frame, 5);
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const ok = headers[':path'] === path && body.length >= 5 && body.length === 5 + body.readUInt32BE(1);
      if (!ok) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  return listenOnLoopback(server, 'close');
}

/** One measured run: a fresh load-generator process against one server. */
function measure(target: Target, round: number, options: Options): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./unary-load.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let cpu0: NodeJS.CpuUsage | undefined;
    let done = false;
    child.on('message', (message: LoadMessage) => {
      if (message.type === 'measuring') {
        cpu0 = process.cpuUsage();
        return;
      }
      const cpu = process.cpuUsage(cpu0);
      done = true;
      resolve({
        server: target.name,
        round,
        rps: message.requests / message.seconds,
        p50Ms: message.p50Ms,
        p99Ms: message.p99Ms,
        errors: message.errors,
        serverCpuMs: (cpu.user + cpu.system) / 1000 / message.requests,
        clientCpuMs: message.clientCpuMs,
      });
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!done) reject(new Error(`load generator exited with ${code}`));
    });
    const request: LoadRequest = {
      url: target.url,
      path: PATH,
      frameHex: REQUEST_FRAME.toString('hex'),
      concurrency: options.concurrency,
      sessions: options.sessions,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      ...(target.headers === undefined ? {} : { headers: target.headers }),
    };
    child.send(request);
  });
}

async function seed(server: BatonServer): Promise<void> {
  server.coordinator.addTasks(
    Array.from({ length: 20 }, (_, i) => ({
      id: `t${i}`,
      deps: i === 0 ? [] : [`t${i - 1}`],
      priority: i % 3,
    })),
  );
}

export async function runUnaryBench(options: Options): Promise<{ ratio: number; runs: Run[] }> {
  const quiet = (): void => {};
  const fast = await startServer({ port: 0, store: 'memory', log: quiet });
  const connect = await startServer({ port: 0, store: 'memory', log: quiet, unaryFastPath: false });
  // Auth on: a reader token among 16 (the verifier compares against every one), on the fast path.
  const token = createToken();
  const lines = [
    authLine(token, 'reader'),
    ...Array.from({ length: 15 }, () => authLine(createToken(), 'admin')),
  ];
  const authed = await startServer({
    port: 0,
    store: 'memory',
    log: quiet,
    auth: { tokens: parseAuthFile(lines.join('\n'), 'bench') },
  });
  const bearer = { authorization: `Bearer ${token}` };
  await seed(fast);
  await seed(connect);
  await seed(authed);
  const canned = await grpcCall(fast.url, PATH, REQUEST_FRAME);
  const cannedConnect = await grpcCall(connect.url, PATH, REQUEST_FRAME);
  const cannedAuthed = await grpcCall(authed.url, PATH, REQUEST_FRAME, bearer);
  if (!canned.equals(cannedConnect) || !canned.equals(cannedAuthed))
    throw new Error('the Baton servers answer differently');
  await grpcCall(authed.url, PATH, REQUEST_FRAME).then(
    () => {
      throw new Error('the auth-on server answered a call without a token');
    },
    () => undefined,
  );
  const raw = await startRawServer(PATH, canned);

  const targets: Target[] = [
    { name: 'raw node:http2', url: raw.url },
    { name: 'Baton (fast path)', url: fast.url },
    { name: 'Baton (connect-node)', url: connect.url },
    { name: 'Baton (fast path, auth on)', url: authed.url, headers: bearer },
  ];
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Alternate the order so that drift (thermal, neighbours) does not favour one server.
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const target of order) {
        const run = await measure(target, round, options);
        runs.push(run);
        process.stderr.write(`  round ${round} ${target.name}: ${fmt(run.rps)} req/s\n`);
      }
    }
  } finally {
    await raw.close();
    await fast.close();
    await connect.close();
    await authed.close();
  }

  const summary = targets.map((t): Omit<Run, 'round'> & { round: 'median' } => {
    const mine = runs.filter((r) => r.server === t.name);
    return {
      server: t.name,
      round: 'median',
      rps: median(mine.map((r) => r.rps)),
      p50Ms: median(mine.map((r) => r.p50Ms)),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      serverCpuMs: median(mine.map((r) => r.serverCpuMs)),
      clientCpuMs: median(mine.map((r) => r.clientCpuMs)),
      errors: mine.reduce((sum, r) => sum + r.errors, 0),
    };
  });
  // The ratio per round (same conditions), then the median over rounds.
  const ratioOf = (name: string): number =>
    median(
      Array.from({ length: options.rounds }, (_, i) => {
        const base = runs.find((r) => r.round === i + 1 && r.server === 'raw node:http2') as Run;
        const run = runs.find((r) => r.round === i + 1 && r.server === name) as Run;
        return run.rps / base.rps;
      }),
    );
  const ratio = ratioOf('Baton (fast path)');
  const connectRatio = ratioOf('Baton (connect-node)');
  const authRatio = ratioOf('Baton (fast path, auth on)');
  // Auth on against auth off, round by round (both fast path, same load).
  const authOnOff = median(
    Array.from({ length: options.rounds }, (_, i) => {
      const on = runs.find((r) => r.round === i + 1 && r.server === 'Baton (fast path, auth on)') as Run;
      const off = runs.find((r) => r.round === i + 1 && r.server === 'Baton (fast path)') as Run;
      return on.rps / off.rps;
    }),
  );

  const rows = [
    ['server', 'round', 'req/s', 'p50 ms', 'p99 ms', 'server CPU/call ms', 'client CPU/call ms', 'errors'],
    ...[...runs, ...summary].map((r) => [
      r.server,
      String(r.round),
      fmt(r.rps),
      fmt(r.p50Ms, 1),
      fmt(r.p99Ms, 1),
      fmt(r.serverCpuMs, 3),
      fmt(r.clientCpuMs, 3),
      String(r.errors),
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] as string).length))) ?? [];
  console.log(
    `\nUnary — GetProgress over gRPC, ${options.concurrency} in flight on ${options.sessions} HTTP/2 connection(s), ` +
      `${options.durationMs / 1000} s after ${options.warmupMs / 1000} s warm-up, load generator in a separate process ` +
      `(Node ${process.versions.node}, ${availableParallelism()} cores, load ${loadavg()[0]?.toFixed(2)})`,
  );
  for (const [i, row] of rows.entries()) {
    console.log(
      row
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join('  '),
    );
    if (i === 0 || i === runs.length) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const verdict = ratio >= TARGET_RATIO ? 'PASS' : 'FAIL';
  console.log(
    `\nBaton/raw (median of per-round ratios): fast path ${ratio.toFixed(2)} (target ≥ ${TARGET_RATIO}: ${verdict}); ` +
      `connect-node path ${connectRatio.toFixed(2)}; fast path with auth on ${authRatio.toFixed(2)} ` +
      `(auth on ÷ off: ${authOnOff.toFixed(2)})`,
  );
  return { ratio, runs };
}

const argValue = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { ratio } = await runUnaryBench({
    rounds: argValue('rounds', 3),
    concurrency: argValue('concurrency', 64),
    sessions: argValue('sessions', 1),
    warmupMs: argValue('warmup-ms', 500),
    durationMs: argValue('duration-ms', 3000),
  });
  process.exitCode = ratio >= TARGET_RATIO ? 0 : 1;
}
