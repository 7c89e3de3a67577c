import type { MessageInitShape } from '@bufbuild/protobuf';
import { type ConnectRouter, createRouterTransport, type Transport } from '@connectrpc/connect';
import {
  type RateDecisionSchema,
  RateLimitService,
  type RateRequest,
  type WorkerMessage,
  WorkerService,
} from '../../src/client/proto.js';
import type { CoordinatorMessageInit } from '../support/session-messages.js';

type RateDecisionInit = MessageInitShape<typeof RateDecisionSchema>;

/** A push queue that a test can end cleanly or with an error: the server's response side. */
class Outbox<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: unknown;

  push(item: T): void {
    this.items.push(item);
    this.signal();
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** Resolves when `waiters` are called (something arrived) or after `ms`, whichever comes first. */
function woken(waiters: (() => void)[], ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    waiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Reads what a client sent, in order, waiting for messages that have not arrived yet. */
class Inbox<T> {
  readonly received: T[] = [];
  private cursor = 0;
  private waiters: (() => void)[] = [];
  closed = false;

  add(item: T): void {
    this.received.push(item);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next unread message (skipping those `skip` rejects), failing after `timeoutMs`. */
  async next(skip: (item: T) => boolean = () => false, timeoutMs = 1_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const item = this.received[this.cursor++]!;
        if (!skip(item)) return item;
      }
      if (this.closed) throw new Error('the client closed its side');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await woken(this.waiters, left);
    }
  }
}

type Reportish = Exclude<
  WorkerMessage['kind']['case'],
  'hello' | 'request' | 'heartbeat' | 'reports' | undefined
>;

/** A flattened report as the fake sees it. */
export interface SeenReport {
  readonly case: Reportish;
  readonly seq: number;
  readonly taskId: string;
  readonly attempt: number;
  readonly value: Record<string, unknown>;
}

/** One worker session on the fake coordinator, driven by the test. */
export class FakeSession {
  readonly inbox = new Inbox<WorkerMessage>();
  readonly outbox = new Outbox<CoordinatorMessageInit>();
  private readonly pendingReports: SeenReport[] = [];
  /** End the response when the client closes its side, as the real coordinator does. */
  endWhenClientCloses = true;

  send(message: CoordinatorMessageInit['kind']): void {
    this.outbox.push({ kind: message } as CoordinatorMessageInit);
  }

  welcome(init: { heartbeatIntervalMs?: number; maxConcurrency?: number } = {}): void {
    this.send({
      case: 'welcome',
      value: { workerId: 'w', leaseTtlMs: 30_000, heartbeatIntervalMs: 10_000, ...init },
    });
  }

  proceed(...tasks: { taskId: string; attempt?: number; metadata?: Record<string, string> }[]): void {
    this.send({
      case: 'proceed',
      value: {
        assignments: tasks.map((t) => ({
          taskId: t.taskId,
          attempt: t.attempt ?? 1,
          metadata: t.metadata ?? {},
        })),
      },
    });
  }

  ack(...receipts: { seq: number; ok?: boolean; code?: number; message?: string }[]): void {
    this.send({
      case: 'ack',
      value: {
        receipts: receipts.map((r) => ({
          seq: r.seq,
          ok: r.ok ?? r.code === undefined,
          ...(r.code === undefined ? {} : { error: { code: r.code, message: r.message ?? 'refused' } }),
        })),
      },
    });
  }

  fail(error: unknown): void {
    this.outbox.end(error);
  }

  end(): void {
    this.outbox.end();
  }

  /** The next message that is not a heartbeat. */
  next(): Promise<WorkerMessage> {
    return this.inbox.next((m) => m.kind.case === 'heartbeat');
  }

  /** The next message, which must be of `kind`. */
  async take<K extends WorkerMessage['kind']['case']>(
    kind: K,
  ): Promise<Extract<WorkerMessage['kind'], { case: K }>['value']> {
    const m = await this.next();
    if (m.kind.case !== kind) throw new Error(`expected ${String(kind)}, got ${String(m.kind.case)}`);
    return m.kind.value as never;
  }

  /** The next report, whether sent alone or inside a Reports batch; other messages are skipped. */
  async report(): Promise<SeenReport> {
    for (;;) {
      const queued = this.pendingReports.shift();
      if (queued !== undefined) return queued;
      const m = await this.inbox.next(
        (x) => x.kind.case === 'heartbeat' || x.kind.case === 'request' || x.kind.case === 'hello',
      );
      const kinds =
        m.kind.case === 'reports'
          ? m.kind.value.reports.map((r) => r.kind)
          : [m.kind as WorkerMessage['kind']];
      for (const k of kinds) {
        if (k.case === undefined || k.case === 'hello' || k.case === 'request' || k.case === 'heartbeat')
          continue;
        if (k.case === 'reports') continue;
        const v = k.value as unknown as Record<string, unknown>;
        this.pendingReports.push({
          case: k.case,
          seq: v.seq as number,
          taskId: (v.taskId as string | undefined) ?? '',
          attempt: (v.attempt as number | undefined) ?? 0,
          value: v,
        });
      }
    }
  }

  /** Every Request count seen so far. */
  requests(): number[] {
    return this.inbox.received.flatMap((m) => (m.kind.case === 'request' ? [m.kind.value.count] : []));
  }
}

/** One rate-limit stream on the fake coordinator. */
export class FakeRateSession {
  readonly inbox = new Inbox<RateRequest>();
  readonly outbox = new Outbox<RateDecisionInit>();

  send(kind: RateDecisionInit['kind']): void {
    this.outbox.push({ kind } as RateDecisionInit);
  }

  async take<K extends RateRequest['kind']['case']>(
    kind: K,
  ): Promise<Extract<RateRequest['kind'], { case: K }>['value']> {
    const m = await this.inbox.next();
    if (m.kind.case !== kind) throw new Error(`expected ${String(kind)}, got ${String(m.kind.case)}`);
    return m.kind.value as never;
  }

  fail(error: unknown): void {
    this.outbox.end(error);
  }
}

/** Sessions as they open, so a test can await the next one. */
class SessionLog<S> {
  readonly all: S[] = [];
  private waiters: (() => void)[] = [];
  private taken = 0;

  add(s: S): void {
    this.all.push(s);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next session not yet returned by next(), waiting for it if needed. */
  async next(timeoutMs = 1_000): Promise<S> {
    const deadline = Date.now() + timeoutMs;
    while (this.taken >= this.all.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no session within ${timeoutMs} ms`);
      await woken(this.waiters, left);
    }
    return this.all[this.taken++]!;
  }
}

/**
 * Wires one scripted stream to its call: what the client sends goes to the inbox, the outbox is
 * the answer, ended when the call is aborted or, if `endWhenClientCloses()`, when the client
 * closes its side.
 */
function connectStream<I, O>(
  s: { readonly inbox: Inbox<I>; readonly outbox: Outbox<O> },
  requests: AsyncIterable<I>,
  signal: AbortSignal,
  endWhenClientCloses: () => boolean,
): AsyncIterable<O> {
  signal.addEventListener('abort', () => s.outbox.end(), { once: true });
  void (async () => {
    try {
      for await (const m of requests) s.inbox.add(m);
    } catch {
      // the client went away
    }
    s.inbox.close();
    if (endWhenClientCloses()) s.outbox.end();
  })();
  return s.outbox;
}

/**
 * An in-memory coordinator whose every answer is scripted by the test: WorkerService.Session and
 * RateLimitService.Acquire record what the client sends and send what the test pushes.
 */
export function createFakeCoordinator(extra?: (router: ConnectRouter) => void): {
  transport: Transport;
  sessions: SessionLog<FakeSession>;
  rateSessions: SessionLog<FakeRateSession>;
} {
  const sessions = new SessionLog<FakeSession>();
  const rateSessions = new SessionLog<FakeRateSession>();
  const transport = createRouterTransport((router) => {
    router.service(WorkerService, {
      async *session(requests, context) {
        const s = new FakeSession();
        const answers = connectStream(s, requests, context.signal, () => s.endWhenClientCloses);
        sessions.add(s);
        yield* answers;
      },
    });
    router.service(RateLimitService, {
      async *acquire(requests, context) {
        const s = new FakeRateSession();
        const answers = connectStream(s, requests, context.signal, () => true);
        rateSessions.add(s);
        yield* answers;
      },
    });
    extra?.(router);
  });
  return { transport, sessions, rateSessions };
}

/** Polls `condition` until true, failing after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
