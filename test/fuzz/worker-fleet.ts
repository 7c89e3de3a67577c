import * as http2 from 'node:http2';
import { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import { type CoordinatorMessage, ErrorCode } from '../../src/server/codec/proto.js';
import type { Json } from '../support/json-http.js';
import type { WorkerMessageInit } from '../support/session-messages.js';
import { expectNoLeak } from './answer-checks.js';
import { count } from './fuzz-run.js';
import { envelope } from './grpc-requests.js';
import type { LiveServer } from './live-server.js';
import { openRawSession, type RawSession, type SessionEvent } from './raw-session.js';
import { modelOf, type Snapshot } from './state-snapshot.js';
import { type Model, predict } from './task-model.js';
import { describeStep, type Slot, type Step } from './worker-steps.js';

/** A worker's report changed this task to this status (and, failing for good, cascaded). */
interface Predicted {
  readonly id: string;
  readonly status: 'running' | 'complete' | 'failed' | 'pending';
}

/** What one step may do to the state, besides assigning pending tasks to connected workers. */
interface Allowed {
  readonly tasks: readonly Predicted[];
  /** The graph an operator's call must leave (the model's cancel or retry), before any assignment. */
  readonly model?: Model;
  /** A cost report the server took: the global spend grew by this much. */
  readonly usd?: number;
}

const NONE: Allowed = { tasks: [] };
const NO_SUCH_TASK = 'no-such-task';
/** Codes no client mistake may be answered with. */
const SERVER_FAULTS: readonly number[] = [Code.Unknown, Code.Internal, Code.DataLoss];
const REPORT_CASE = {
  started: 'started',
  complete: 'complete',
  failed: 'failed',
  'failed-retryable': 'failed',
} as const;

/** The fleet of one run: raw sessions of two workers on one HTTP/2 connection, driven step by step. */
export interface WorkerFleet {
  run(steps: readonly Step[]): Promise<void>;
  close(): void;
}

export interface FleetOptions {
  /** Headers on every session (`grpc-timeout` sends them through connect-node). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The two workers' ids. Default w0 and w1. */
  readonly workerIds?: readonly [string, string];
  /** Each worker's bearer token, when the server checks tokens. */
  readonly tokens?: readonly [string, string];
}

export function createWorkerFleet(live: LiveServer, options: FleetOptions = {}): WorkerFleet {
  const WORKER_IDS = options.workerIds ?? (['w0', 'w1'] as const);
  const connection = http2.connect(live.url);
  connection.on('error', () => {});
  const sessions: (RawSession | undefined)[] = [undefined, undefined];
  let seq = 0;

  const opened: RawSession[] = [];
  /** A new stream, with slot `w`'s token when there are tokens. */
  const open = (w: Slot = 0): RawSession => {
    const token = options.tokens?.[w];
    const s = openRawSession(connection, {
      ...options.headers,
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    });
    opened.push(s);
    return s;
  };

  /** Events until `done` says stop, the stream ends or nothing comes for a while. */
  const until = async (
    s: RawSession,
    what: string,
    done: (e: SessionEvent) => boolean,
  ): Promise<SessionEvent> => {
    for (;;) {
      const event = await s.next(5000);
      expect(event, `${what}: the server answers within 5 s`).not.to.equal(undefined);
      const e = event as SessionEvent;
      if ('end' in e) expectCleanEnd(e.end, what);
      if (done(e) || 'end' in e) return e;
    }
  };

  const expectCleanEnd = (end: { code: number; message: string; httpStatus: number }, what: string) => {
    expect(end.code, `${what}: ended with ${JSON.stringify(end)}`).not.to.be.oneOf(SERVER_FAULTS);
    expect(end.code, `${what}: ended without a gRPC status (${JSON.stringify(end)})`).not.to.equal(-1);
    expectNoLeak(end.message, what);
  };

  const expectEnd = async (s: RawSession, code: Code, what: string): Promise<void> => {
    const e = await until(s, what, () => false);
    expect(e, `${what}: the stream ends`).to.have.property('end');
    const end = (e as Extract<SessionEvent, { end: unknown }>).end;
    expect(end.code, `${what}: ends with ${Code[code]}, not ${JSON.stringify(end)}`).to.equal(code);
  };

  const hello = async (w: Slot, maxConcurrency: number, what: string): Promise<void> => {
    const s = open(w);
    s.send({ kind: { case: 'hello', value: { workerId: WORKER_IDS[w], maxConcurrency } } });
    const first = await s.next(5000);
    expect(
      first !== undefined && 'message' in first && first.message.kind.case,
      `${what}: welcome first`,
    ).to.equal('welcome');
    sessions[w] = s;
  };

  /** The task a report names, and its attempt, chosen against the state now. */
  const resolve = (
    step: Extract<Step, { do: 'report' }>,
    state: Snapshot,
  ): {
    id: string;
    attempt: number;
    held: boolean;
    holder: 'mine' | 'theirs' | undefined;
    status: string;
  } => {
    const mine = WORKER_IDS[step.w];
    const tasks = [...state.tasks.values()] as Json[];
    const held = (t: Json) => t.status === 'TASK_STATUS_ASSIGNED' || t.status === 'TASK_STATUS_RUNNING';
    const pick =
      step.target === 'mine'
        ? tasks.find((t) => held(t) && t.workerId === mine)
        : step.target === 'theirs'
          ? tasks.find((t) => held(t) && t.workerId !== mine)
          : step.target === 'lost'
            ? tasks.find((t) => !held(t) && t.workerId === mine && /PENDING|CANCELLED/.test(t.status))
            : step.target === 'pending'
              ? tasks.find((t) => t.status === 'TASK_STATUS_PENDING')
              : undefined;
    const id: string = pick?.id ?? NO_SUCH_TASK;
    const current: number = pick?.attempt ?? 1;
    const attempt =
      step.attempt === 'current' ? current : step.attempt === 'stale' ? current - 1 : current + 1;
    const holder = pick === undefined || !held(pick) ? undefined : pick.workerId === mine ? 'mine' : 'theirs';
    return {
      id,
      attempt: Math.max(0, attempt),
      held: holder === 'mine' && step.attempt === 'current',
      holder,
      status: pick?.status ?? '',
    };
  };

  const report = async (
    s: RawSession,
    step: Extract<Step, { do: 'report' }>,
    state: Snapshot,
    what: string,
  ): Promise<Allowed> => {
    const target = resolve(step, state);
    const value = {
      taskId: target.id,
      attempt: target.attempt,
      ...(step.kind === 'failed' || step.kind === 'failed-retryable'
        ? { error: 'fuzz', retryable: step.kind === 'failed-retryable' }
        : {}),
    };
    // Seqs are the worker's to choose: receipts echo them, whether new, repeated, 0 or the largest.
    const chosen = (): number =>
      step.seq === 'fresh' ? ++seq : step.seq === 'reused' ? seq : step.seq === 'zero' ? 0 : 2 ** 32 - 1;
    const seqs = step.twice ? [chosen(), chosen()] : [chosen()];
    const reports = seqs.map((n) => ({ case: REPORT_CASE[step.kind], value: { seq: n, ...value } }) as const);
    if (step.batched)
      s.send({ kind: { case: 'reports', value: { reports: reports.map((kind) => ({ kind })) } } });
    else for (const kind of reports) s.send({ kind } as WorkerMessageInit);
    const receipts: { seq: number; ok: boolean; code: number }[] = [];
    while (receipts.length < seqs.length) {
      const e = await until(s, what, (x) => 'message' in x && x.message.kind.case === 'ack');
      expect(e, `${what}: acked, not ended`).to.have.property('message');
      const ack = (e as { message: CoordinatorMessage }).message.kind;
      if (ack.case !== 'ack') continue;
      for (const r of ack.value.receipts) {
        expectNoLeak(r.error?.message ?? '', what);
        receipts.push({ seq: r.seq, ok: r.ok, code: r.error?.code ?? 0 });
      }
    }
    expect(
      receipts.map((r) => r.seq),
      `${what}: one receipt per report, in order`,
    ).to.deep.equal(seqs);
    count(
      `report ${step.kind} ${step.target} ${step.attempt} ${receipts[0]?.ok === true ? 'applied' : 'refused'}`,
    );
    const first = receipts[0] as { ok: boolean; code: number };
    expect(first.code, `${what}: receipt code`).not.to.equal(8);
    const mayRepeat = step.kind === 'started' && target.status === 'TASK_STATUS_RUNNING';
    if (!mayRepeat)
      expect(first.ok, `${what}: ${JSON.stringify(target)} → ${JSON.stringify(receipts)}`).to.equal(
        target.held,
      );
    if (!first.ok) {
      // The fencing contract (worker.proto, ErrorCode): someone else's attempt is not yours, an
      // attempt that is not the current one is stale, and a task that does not exist is not found.
      const code =
        target.id === NO_SUCH_TASK
          ? ErrorCode.NOT_FOUND
          : target.holder === 'theirs'
            ? step.attempt === 'stale'
              ? ErrorCode.ABORTED
              : ErrorCode.PERMISSION_DENIED
            : (target.holder === 'mine' && step.attempt !== 'current') ||
                (step.target === 'lost' && target.holder === undefined && step.attempt === 'current')
              ? ErrorCode.ABORTED
              : undefined;
      if (code !== undefined) expect(first.code, `${what}: refused as ${ErrorCode[code]}`).to.equal(code);
      return NONE;
    }
    const retryable = step.kind === 'failed-retryable';
    const task = state.tasks.get(target.id) as Json;
    const status =
      step.kind === 'started'
        ? 'running'
        : step.kind === 'complete'
          ? 'complete'
          : retryable && target.attempt < task.maxAttempts
            ? 'pending'
            : 'failed';
    return { tasks: [{ id: target.id, status }] };
  };

  const forge = async (s: RawSession, step: Extract<Step, { do: 'forge' }>, what: string): Promise<void> => {
    switch (step.forgery) {
      case 'garbage':
        s.sendBytes(envelope(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
        await expectEnd(s, Code.InvalidArgument, what);
        return;
      case 'truncated':
        s.sendBytes(Buffer.concat([envelope(Buffer.alloc(10), 0, 50)]));
        s.halfClose();
        await expectEnd(s, Code.InvalidArgument, what);
        return;
      case 'compressed':
        s.sendBytes(envelope(Buffer.from([0x1a, 0x00]), 1));
        await expectEnd(s, Code.InvalidArgument, what);
        return;
      case 'huge-length':
        s.sendBytes(envelope(Buffer.alloc(0), 0, 0xffffffff));
        await expectEnd(s, Code.ResourceExhausted, what);
        return;
      case 'not-utf8-task': {
        const id = Buffer.from([0x61, 0xff]);
        // WorkerMessage.complete (5) { seq (1) = 1, task_id (2) = "a\xff", attempt (3) = 1 }
        const complete = Buffer.concat([
          Buffer.from([0x08, 0x01, 0x12, id.length]),
          id,
          Buffer.from([0x18, 0x01]),
        ]);
        s.sendBytes(envelope(Buffer.concat([Buffer.from([0x2a, complete.length]), complete])));
        // Refused either way: as a receipt (no such task) or by ending the stream.
        const e = await until(s, what, (x) => 'message' in x && x.message.kind.case === 'ack');
        if ('message' in e && e.message.kind.case === 'ack')
          expect(e.message.kind.value.receipts[0]?.ok, what).to.equal(false);
        else expect((e as { end: { code: number } }).end.code, what).to.equal(Code.InvalidArgument);
        return;
      }
    }
  };

  /**
   * An operator cancels a task (one a worker holds, or any) or retries one, as the model says it
   * must go; a worker holding a cancelled task is told, naming the attempt.
   */
  const operate = async (
    step: Extract<Step, { do: 'operator' }>,
    state: Snapshot,
    what: string,
  ): Promise<Allowed> => {
    const tasks = [...state.tasks.values()] as Json[];
    const target =
      step.action === 'retry'
        ? tasks.find((t) => /FAILED|CANCELLED/.test(t.status))
        : step.action === 'cancel-held'
          ? tasks.find((t) => /ASSIGNED|RUNNING/.test(t.status))
          : tasks[tasks.length - 1];
    if (target === undefined) return NONE;
    const op = {
      kind: step.action === 'retry' ? ('retry' as const) : ('cancel' as const),
      id: target.id as string,
    };
    const prediction = predict(modelOf(state), op);
    const call =
      op.kind === 'retry' ? live.client.retryTask({ id: op.id }) : live.client.cancelTask({ id: op.id });
    const accepted = await call.then(
      () => true,
      () => false,
    );
    expect(accepted, `${what}: ${op.kind} ${op.id}: the model says ${prediction.verdict}`).to.equal(
      prediction.verdict === 'accept',
    );
    if (prediction.verdict !== 'accept') return NONE;
    const holder = WORKER_IDS.indexOf(target.workerId);
    const s = sessions[holder];
    if (op.kind === 'cancel' && /ASSIGNED|RUNNING/.test(target.status) && s !== undefined) {
      const e = await until(
        s,
        `${what}: the holder is told`,
        (x) =>
          'message' in x && x.message.kind.case === 'cancel' && x.message.kind.value.taskId === target.id,
      );
      const told = 'message' in e && e.message.kind.case === 'cancel' ? e.message.kind.value : undefined;
      expect(told?.attempt, `${what}: cancel names the attempt`).to.equal(target.attempt);
    }
    return { tasks: [], model: prediction.after };
  };

  /** Runs one step; says what it may have changed. */
  const execute = async (step: Step, state: Snapshot, what: string): Promise<Allowed> => {
    if (step.do === 'operator') return operate(step, state, what);
    if (step.do === 'impostor') {
      // Slot w's token, the other worker's id.
      const s = open(step.w);
      s.send({ kind: { case: 'hello', value: { workerId: WORKER_IDS[step.w === 0 ? 1 : 0] } } });
      await expectEnd(s, Code.PermissionDenied, what);
      return NONE;
    }
    if (step.do === 'bad-hello') {
      const s = open();
      s.send({ kind: { case: 'hello', value: { workerId: step.workerId } } });
      // A worker token names its one id: any other is refused before it is looked at.
      const named = options.tokens !== undefined && step.workerId !== '';
      await expectEnd(s, named ? Code.PermissionDenied : Code.InvalidArgument, what);
      return NONE;
    }
    if (step.do === 'before-hello') {
      const s = open();
      const first: WorkerMessageInit =
        step.first === 'heartbeat'
          ? { kind: { case: 'heartbeat', value: {} } }
          : step.first === 'request'
            ? { kind: { case: 'request', value: { count: 1 } } }
            : { kind: { case: 'complete', value: { seq: 1, taskId: 'a', attempt: 1 } } };
      s.send(first);
      await expectEnd(s, Code.FailedPrecondition, what);
      return NONE;
    }
    const s = sessions[step.w];
    if (step.do === 'hello' || step.do === 'reconnect' || s === undefined) {
      const replaced = s;
      await hello(step.w, step.do === 'hello' ? step.maxConcurrency : 1, what);
      if (replaced !== undefined) await expectEnd(replaced, Code.Aborted, `${what}: the replaced session`);
      return NONE;
    }
    switch (step.do) {
      case 'again-hello':
        s.send({ kind: { case: 'hello', value: { workerId: WORKER_IDS[step.w] } } });
        await expectEnd(s, Code.FailedPrecondition, what);
        sessions[step.w] = undefined;
        return NONE;
      case 'report':
        return report(s, step, state, what);
      case 'cost': {
        const n = ++seq;
        s.send({
          kind: {
            case: 'cost',
            value: { seq: n, totalUsd: step.usd, inputTokens: step.tokens, outputTokens: 1n },
          },
        });
        const e = await until(s, what, (x) => 'message' in x && x.message.kind.case === 'ack');
        const ack =
          'message' in e && e.message.kind.case === 'ack' ? e.message.kind.value.receipts[0] : undefined;
        expect(ack?.seq, `${what}: acked`).to.equal(n);
        expect(ack?.error?.code ?? 0, `${what}: receipt code`).not.to.equal(8);
        const valid = Number.isFinite(step.usd) && step.usd >= 0;
        if (!valid) expect(ack?.ok, `${what}: a cost of ${step.usd} is refused`).to.equal(false);
        return ack?.ok === true ? { tasks: [], usd: step.usd } : NONE;
      }
      case 'request':
        s.send({ kind: { case: 'request', value: { count: step.count } } });
        return NONE;
      case 'heartbeat':
        s.send({ kind: { case: 'heartbeat', value: {} } });
        return NONE;
      case 'forge':
        await forge(s, step, what);
        if (s.ended) sessions[step.w] = undefined;
        return NONE;
      case 'close':
        s.halfClose();
        await expectEnd(s, 0 as Code, what);
        sessions[step.w] = undefined;
        return NONE;
    }
  };

  return {
    async run(steps) {
      for (const w of [0, 1] as const) await hello(w, 2, `opening w${w}`);
      let before = await live.read();
      for (const [i, step] of steps.entries()) {
        const what = `#${i} ${describeStep(step)}`;
        const allowed = await execute(step, before, what);
        // A request or heartbeat has no answer: let it land before reading the state.
        if (step.do === 'request' || step.do === 'heartbeat') await sessions[step.w]?.drain(20);
        const after = await live.read();
        expectAllowed(before, after, allowed, WORKER_IDS, what);
        before = after;
      }
      await live.expectHealthy(`after ${steps.length} steps`);
    },
    close() {
      for (const s of opened) s.cancel();
      connection.destroy();
    },
  };
}

const statusOf = (t: Json): string => String(t.status).slice('TASK_STATUS_'.length).toLowerCase();
const HELD = new Set(['assigned', 'running']);

/**
 * The state after a step: the tasks its accepted report predicts (a failure for good cancelling
 * its dependents, as CancelTask would), pending tasks given to connected workers (attempt + 1),
 * every other task as it was; the spend grown by an accepted cost report and nothing else.
 */
function expectAllowed(
  before: Snapshot,
  after: Snapshot,
  allowed: Allowed,
  workers: readonly string[],
  what: string,
): void {
  expect([...after.tasks.keys()], `${what}: task ids`).to.deep.equal([...before.tasks.keys()]);
  let model: Model = allowed.model ?? modelOf(before);
  for (const p of allowed.tasks) {
    if (p.status === 'failed') {
      const cascade = predict({ ...model, state: 'running' }, { kind: 'cancel', id: p.id });
      if (cascade.verdict === 'accept') model = { ...model, tasks: cascade.after.tasks };
    }
    const task = model.tasks.get(p.id);
    if (task !== undefined)
      model = {
        ...model,
        tasks: new Map(model.tasks).set(p.id, { ...task, status: p.status, cancelledBy: '' }),
      };
  }
  for (const [id, task] of after.tasks) {
    const was = before.tasks.get(id) as Json;
    const want = model.tasks.get(id);
    const now = statusOf(task);
    if (want !== undefined && (want.status !== statusOf(was) || want.cancelledBy !== was.cancelledBy)) {
      // Back to pending after a retryable failure, it may be assigned again at once.
      const ok = now === want.status || (want.status === 'pending' && now === 'assigned');
      expect(ok, `${what}: task ${id} is ${now}, the report made it ${want.status}`).to.equal(true);
      expect(task.cancelledBy, `${what}: task ${id} cancelledBy`).to.equal(want.cancelledBy);
      continue;
    }
    if (statusOf(was) === 'pending' && now === 'assigned') {
      expect(task.attempt, `${what}: task ${id} assigned with the next attempt`).to.equal(was.attempt + 1);
      expect(workers, `${what}: task ${id} assigned to a worker of the fleet`).to.include(task.workerId);
      continue;
    }
    expect(task, `${what}: task ${id} is unchanged`).to.deep.equal(was);
  }
  const spent = (s: Snapshot): number => s.status.costs.global.spentUsd;
  const grew = spent(after) - spent(before);
  expect(grew, `${what}: the global spend`).to.be.closeTo(allowed.usd ?? 0, 1e-6 * Math.max(1, spent(after)));
  for (const [id, task] of after.tasks) {
    if (HELD.has(statusOf(task)))
      expect(task.workerId, `${what}: task ${id} is held by someone`).not.to.equal('');
  }
}
