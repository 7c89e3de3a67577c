import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createTempRepo } from '../workspaces/temp-repo.js';

// Polyglot interop: the Python worker in examples/python-worker, built with Debian's grpcio and
// protobuf from the same .proto files, joins a live server, runs ten tasks and reports their cost.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = join(ROOT, 'examples/python-worker');
const PYTHON = '/usr/bin/python3'; // Debian's python3-* packages live in the system Python only
const WORKER_ID = 'python-interop-1';
const TASKS = 10;
const COST_PER_TASK = 0.01;

/** Why the Python side cannot run here, or undefined when it can. */
function missingPrerequisite(): string | undefined {
  const python = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
  if (python.error !== undefined) return `${PYTHON} is not available (${python.error.message})`;
  if (python.status !== 0) {
    const why = python.stderr.trim().split('\n').pop() ?? '';
    return `${PYTHON} cannot import grpc and google.protobuf (${why}): install python3-grpcio and python3-protobuf`;
  }
  for (const [tool, pkg] of [
    ['protoc', 'protobuf-compiler'],
    ['grpc_python_plugin', 'protobuf-compiler-grpc'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not on PATH: install ${pkg}`;
  }
  return undefined;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end, killing it after `timeoutMs`. */
function run(command: string, args: readonly string[], timeoutMs: number): Promise<Exit> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

const describeExit = (exit: Exit): string =>
  `exit ${exit.code ?? exit.signal}\n--- stdout\n${exit.stdout}--- stderr\n${exit.stderr}`;

describe('interop: Python worker (examples/python-worker)', function () {
  this.timeout(60_000);
  let server: BatonServer | undefined;

  /** Calls a CoordinatorService method with Connect JSON over HTTP/1.1, as curl or a script would. */
  const admin = async <T>(method: string, body: object = {}): Promise<T> => {
    const response = await fetch(`${server!.url}/coord.v1.CoordinatorService/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };

  before(async function () {
    const missing = missingPrerequisite();
    if (missing !== undefined) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    const generated = await run(join(EXAMPLE, 'generate.sh'), [], 30_000);
    expect(generated.code, `generate.sh failed: ${describeExit(generated)}`).to.equal(0);
    server = await startServer({ port: 0, host: '127.0.0.1', store: 'memory' });
  });

  after(async () => {
    await server?.close();
  });

  it('joins over gRPC, completes ten tasks (some with deps) and reports their cost', async () => {
    // Three chains and a join: t3 needs t0, t6 needs t3, t9 needs t6 and t8, and so on.
    const tasks = Array.from({ length: TASKS }, (_, i) => ({
      id: `py-${i}`,
      category: 'python',
      deps: i < 3 ? [] : i === TASKS - 1 ? [`py-${i - 3}`, `py-${i - 1}`] : [`py-${i - 3}`],
      metadata: { prompt: `task ${i}` },
    }));
    await admin('BatchAddTasks', { tasks });

    const worker = await run(
      PYTHON,
      [
        join(EXAMPLE, 'worker.py'),
        ...['--target', `127.0.0.1:${server!.port}`, '--id', WORKER_ID, '--capabilities', 'python'],
        ...['--max-concurrency', '3', '--tasks', String(TASKS), '--cost-usd', String(COST_PER_TASK)],
      ],
      45_000,
    );
    expect(worker.code, describeExit(worker)).to.equal(0);
    const completedLines = worker.stdout.split('\n').filter((line) => line.startsWith('completed '));
    expect(completedLines, describeExit(worker)).to.have.length(TASKS);

    interface WireTask {
      id: string;
      status: string;
      workerId?: string;
      result?: unknown;
    }
    const listed = await admin<{ tasks: WireTask[] }>('ListTasks', { limit: 1000 });
    expect(listed.tasks.map((t) => t.id)).to.have.members(tasks.map((t) => t.id));
    for (const task of listed.tasks) {
      expect(task.status, task.id).to.equal('TASK_STATUS_COMPLETE');
      expect(task.workerId, task.id).to.equal(WORKER_ID);
      expect(task.result, task.id).to.deep.equal({ by: 'python', task: task.id });
    }

    interface Spend {
      spentUsd?: number;
    }
    const { costs } = await admin<{
      costs: { global?: Spend; workers?: { workerId: string; spend?: Spend }[] };
    }>('GetCosts');
    const mine = costs.workers?.find((w) => w.workerId === WORKER_ID);
    expect(mine?.spend?.spentUsd ?? 0, 'the worker spend').to.be.closeTo(TASKS * COST_PER_TASK, 1e-9);
    expect(costs.global?.spentUsd ?? 0, 'the global spend').to.be.closeTo(TASKS * COST_PER_TASK, 1e-9);
  });

  it('works in a workspace of its own: commits per task on baton/<id>, heads reported with completions', async () => {
    const repo = await createTempRepo('baton-py-ws-');
    const shared = await startServer({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      repo: { repo: repo.path },
    });
    try {
      const add = await fetch(`${shared.url}/api/coordination/tasks/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tasks: [{ id: 'ws-1' }, { id: 'ws-2', deps: ['ws-1'] }] }),
      });
      expect(add.status).to.equal(200);
      const worker = await run(
        PYTHON,
        [
          join(EXAMPLE, 'worker.py'),
          '--target',
          `127.0.0.1:${shared.port}`,
          '--id',
          'py-ws',
          '--workspace',
          '--tasks',
          '2',
        ],
        45_000,
      );
      expect(worker.code, describeExit(worker)).to.equal(0);
      expect(worker.stdout + worker.stderr).to.include('on branch baton/py-ws');
      const head = await repo.head('baton/py-ws');
      expect(await repo.git.line(['show', `${head}:ws-2.txt`])).to.equal('done by py-ws');
      const listed = (await (await fetch(`${shared.url}/api/coordination/workspaces`)).json()) as {
        workspaces: object[];
      };
      expect(listed.workspaces[0]).to.deep.include({ workerId: 'py-ws', branch: 'baton/py-ws', head });
    } finally {
      await shared.close();
      repo.remove();
    }
  });
});
