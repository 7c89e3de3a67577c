import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Code } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import {
  type AdminClient,
  createAdminClient,
  createWorker,
  ErrorCode,
  TaskStatus,
  type Worker,
  type WorkerEvent,
} from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import {
  newTally,
  openRawSession,
  type RawSession,
  startProxy,
  tallyInterceptor,
  tempDir,
  waitFor,
} from './harness.js';

const LEASE_TTL_MS = 400;
/** What the coordinator tells workers: a third of the lease. */
const HEARTBEAT_MS = Math.floor(LEASE_TTL_MS / 3);
const VICTIM = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/victim-worker.js');

interface Start {
  readonly taskId: string;
  readonly attempt: number;
  readonly at: number;
}

describe('durability: worker faults (lease 400 ms)', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof tempDir>;
  let server: BatonServer;
  let admin: AdminClient;
  const cleanup: (() => unknown)[] = [];
  const measured: string[] = [];

  beforeEach(async () => {
    dir = tempDir('baton-worker-faults-');
    server = await startServer({
      port: 0,
      store: 'sqlite',
      dbPath: join(dir.path, 'baton.db'),
      leaseTtlMs: LEASE_TTL_MS,
    });
    admin = createAdminClient({ url: server.url, defaultTimeoutMs: 5000 });
  });

  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
    await server.close();
    dir.remove();
  });

  after(() => {
    if (measured.length > 0) console.log(`      re-run after the fault: ${measured.join('; ')}`);
  });

  /** An SDK worker that takes over: records when each handler starts, and finishes when told. */
  async function rescuer(): Promise<{ starts: Start[]; release(): void }> {
    const starts: Start[] = [];
    let release!: () => void;
    const released = new Promise<void>((done) => {
      release = done;
    });
    const worker = createWorker({
      url: server.url,
      id: 'rescuer',
      capabilities: [],
      maxConcurrency: 1,
      async handler(task) {
        starts.push({ taskId: task.id, attempt: task.attempt, at: Date.now() });
        await released;
        return { by: 'rescuer' };
      },
    });
    cleanup.push(() => worker.stop({ signal: AbortSignal.timeout(2000) }));
    await worker.start();
    return { starts, release };
  }

  /** Waits for the rescuer to start attempt 2 of `taskId` and checks how long after `faultAt`. */
  async function expectRerun(starts: Start[], taskId: string, faultAt: number, label: string): Promise<void> {
    const start = await waitFor(
      `${taskId} to be re-run`,
      () => starts.find((s) => s.taskId === taskId),
      5000,
      2,
    );
    const after = start.at - faultAt;
    measured.push(`${label} ${after} ms`);
    expect(start.attempt).to.equal(2);
    expect(after, `re-run ${after} ms after the fault`).to.be.at.most(LEASE_TTL_MS + HEARTBEAT_MS);
  }

  /** The old attempt's late report, sent as the old worker would after reconnecting: refused ABORTED. */
  async function expectLateReportAborted(workerId: string, taskId: string): Promise<void> {
    const late = openRawSession(server.url, workerId);
    cleanup.push(() => late.abort());
    await late.next('welcome', (m) => (m.kind.case === 'welcome' ? m : undefined));
    late.send({ kind: { case: 'complete', value: { seq: 41, taskId, attempt: 1 } } });
    late.send({
      kind: { case: 'failed', value: { seq: 42, taskId, attempt: 1, error: 'late', retryable: true } },
    });
    for (const seq of [41, 42]) {
      const receipt = await late.receipt(seq);
      expect(receipt.ok).to.equal(false);
      expect(receipt.error?.code).to.equal(ErrorCode.ABORTED);
    }
    const task = await admin.getTask(taskId);
    expect(task.status).to.equal(TaskStatus.RUNNING);
    expect(task).to.deep.include({ attempt: 2, workerId: 'rescuer' });
  }

  async function expectDoneByRescuer(taskId: string): Promise<void> {
    await waitFor(
      `${taskId} to complete`,
      async () => (await admin.getTask(taskId)).status === TaskStatus.COMPLETE,
      5000,
    );
    expect(await admin.getTask(taskId)).to.deep.include({ attempt: 2, workerId: 'rescuer' });
  }

  it('(a) a worker process killed mid-task: its task is re-run and its late report refused', async () => {
    const child = spawn(process.execPath, [VICTIM, server.url, 'victim'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise((done) => child.once('exit', done));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await waitFor('the worker process to join', () => output.includes('welcomed'), 10_000);
    await admin.addTask({ id: 'a' });
    await waitFor('its handler to start', () => output.includes('started a 1'), 5000, 2);
    const { starts, release } = await rescuer();

    child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    await expectRerun(starts, 'a', killedAt, '(a) killed process');
    await expectLateReportAborted('victim', 'a');
    release();
    await expectDoneByRescuer('a');
  });

  it('(b) a worker that stops heartbeating with its stream open: re-run, then ABORTED', async () => {
    const silent: RawSession = openRawSession(server.url, 'silent');
    cleanup.push(() => silent.abort());
    await silent.next('welcome', (m) => (m.kind.case === 'welcome' ? m : undefined));
    silent.send({ kind: { case: 'request', value: { count: 1 } } });
    await admin.addTask({ id: 'b' });
    const assignment = await silent.next('assignment', (m) =>
      m.kind.case === 'proceed' ? m.kind.value.assignments[0] : undefined,
    );
    expect(assignment).to.deep.include({ taskId: 'b', attempt: 1 });
    const { starts, release } = await rescuer();
    silent.send({ kind: { case: 'started', value: { seq: 1, taskId: 'b', attempt: 1 } } });
    // The last word from this worker: its lease runs from here.
    const silentFrom = Date.now();
    expect((await silent.receipt(1)).ok).to.equal(true);

    await expectRerun(starts, 'b', silentFrom, '(b) silent stream');
    expect(Date.now() - silentFrom).to.be.at.least(LEASE_TTL_MS - 5);
    // The coordinator ended the silent session when its lease lapsed, so the SDK would reconnect.
    expect((await silent.ended)?.code).to.equal(Code.Unavailable);
    await expectLateReportAborted('silent', 'b');
    release();
    await expectDoneByRescuer('b');
  });

  it('(c) a worker whose connection drops: re-run; its SDK resends the late report, refused ABORTED', async () => {
    const proxy = await startProxy(server.port);
    cleanup.push(() => proxy.close());
    const tally = newTally();
    const events: WorkerEvent[] = [];
    let finish!: () => void;
    const finished = new Promise<void>((done) => {
      finish = done;
    });
    const dropper: Worker = createWorker({
      url: proxy.url,
      id: 'dropper',
      capabilities: [],
      maxConcurrency: 1,
      transport: createGrpcTransport({ baseUrl: proxy.url, interceptors: [tallyInterceptor(tally)] }),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      onEvent: (e) => events.push(e),
      async handler() {
        await finished;
        return { by: 'dropper' };
      },
    });
    cleanup.push(() => dropper.stop({ signal: AbortSignal.timeout(2000) }));
    await dropper.start();
    await admin.addTask({ id: 'c' });
    await waitFor('the dropper to start c', () => events.some((e) => e.type === 'task-started'), 5000, 2);
    // Its Started is acknowledged, so the only report left to resend is the late Complete.
    await waitFor('c to run', async () => (await admin.getTask('c')).status === TaskStatus.RUNNING, 5000, 5);
    const { starts, release } = await rescuer();

    proxy.cut();
    const droppedAt = Date.now();
    await expectRerun(starts, 'c', droppedAt, '(c) dropped stream');
    // The old attempt finishes while disconnected; the SDK keeps its report and resends it.
    finish();
    await waitFor('the report to be made', () => events.some((e) => e.type === 'task-finished'), 5000, 2);
    proxy.resume();
    await waitFor('the stale complete', () => events.find((e) => e.type === 'stale'), 5000);
    expect(events.find((e) => e.type === 'stale')).to.deep.include({
      taskId: 'c',
      attempt: 1,
      report: 'complete',
    });
    expect(tally.refusals.get('ABORTED')).to.equal(1);
    expect(tally.completions.size).to.equal(0);
    const task = await admin.getTask('c');
    expect(task).to.deep.include({ status: TaskStatus.RUNNING, attempt: 2, workerId: 'rescuer' });
    release();
    await expectDoneByRescuer('c');
  });
});
