import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import {
  type AdminClient,
  createAdminClient,
  createWorker,
  ErrorCode,
  type NewTask,
  TaskStatus,
} from '../../src/client/index.js';
import { type CostSnapshot, RECENT_REPORTS } from '../../src/core/cost-aggregator.js';
import type { TaskRow } from '../../src/core/store.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/server/store/sqlite-schema.js';
import {
  APPLICATION_ID,
  openSqliteStore,
  type SqliteStoreOptions,
} from '../../src/server/store/sqlite-store.js';
import { rejection } from '../support/rejection.js';
import {
  getJson,
  newTally,
  openRawSession,
  type RawSession,
  runCli,
  tallyInterceptor,
  tempDir,
  waitFor,
} from './harness.js';

describe('durability: storage faults', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof tempDir>;
  let dbPath: string;
  let server: BatonServer | undefined;
  let admin: AdminClient;
  let logged: string[];
  const sessions: RawSession[] = [];

  beforeEach(() => {
    dir = tempDir('baton-storage-faults-');
    dbPath = join(dir.path, 'baton.db');
    logged = [];
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) s.abort();
    await server?.close();
    server = undefined;
    dir.remove();
  });

  async function serve(store: Omit<SqliteStoreOptions, 'path'> = {}, options: ServerOptions = {}) {
    await server?.close();
    server = await startServer({
      port: 0,
      store: openSqliteStore({ path: dbPath, ...store }),
      leaseTtlMs: 10_000,
      log: (message, error) => logged.push(`${message}: ${(error as Error | undefined)?.message ?? ''}`),
      ...options,
    });
    admin = createAdminClient({ url: server.url, defaultTimeoutMs: 5000 });
    return server;
  }

  /** A raw worker session holding `taskId` (attempt 1), started. */
  async function holding(workerId: string, taskId: string): Promise<RawSession> {
    const s = openRawSession((server as BatonServer).url, workerId);
    sessions.push(s);
    await s.next('welcome', (m) => (m.kind.case === 'welcome' ? m : undefined));
    s.send({ kind: { case: 'request', value: { count: 1 } } });
    await admin.addTask({ id: taskId });
    const a = await s.next('assignment', (m) =>
      m.kind.case === 'proceed' ? m.kind.value.assignments[0] : undefined,
    );
    expect(a).to.deep.include({ taskId, attempt: 1 });
    s.send({ kind: { case: 'started', value: { seq: 1, taskId, attempt: 1 } } });
    expect((await s.receipt(1)).ok).to.equal(true);
    return s;
  }

  async function expectReadsServed(base: string, running: string): Promise<void> {
    const status = await getJson(base, '/api/coordination/status');
    expect(status.state).to.be.a('string');
    const tasks = await getJson(base, '/api/coordination/tasks');
    const task = tasks.tasks.find((t: { id: string }) => t.id === running);
    expect(task?.status).to.match(/running/i);
    expect((await admin.getTask(running)).status).to.equal(TaskStatus.RUNNING);
  }

  const bigBatch = (n: number): NewTask[] =>
    Array.from({ length: n }, (_, i) => ({ id: `big${i}`, metadata: { blob: 'x'.repeat(8000) } }));

  it('a full store (SQLITE_FULL) refuses writes with UNAVAILABLE, acks nothing unstored, serves reads', async () => {
    await serve({ pragmas: { max_page_count: 48 } });
    const w1 = await holding('w1', 'a');

    // This batch does not fit: the commit of its turn fails, so the call is answered UNAVAILABLE.
    const full = await rejection(admin.addTasks(bigBatch(40)));
    expect(full.code).to.equal(Code.Unavailable);
    expect(full.rawMessage).to.match(/the store cannot write \(database or disk is full\)/);
    // From now on mutations are refused before they touch the coordinator.
    const cancel = await rejection(admin.cancelTask('a'));
    expect(cancel.code).to.equal(Code.Unavailable);
    w1.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'a', attempt: 1 } } });
    w1.send({
      kind: {
        case: 'cost',
        value: { seq: 3, totalUsd: 0.5, inputTokens: 1n, outputTokens: 1n, taskId: 'a', reportId: 'c1' },
      },
    });
    for (const seq of [2, 3]) {
      const receipt = await w1.receipt(seq);
      expect(receipt.ok).to.equal(false);
      expect(receipt.error?.code).to.equal(ErrorCode.UNAVAILABLE);
      expect(receipt.error?.message).to.match(/store cannot write \(database or disk is full\)/);
    }
    await expectReadsServed((server as BatonServer).url, 'a');
    expect(logged.some((l) => /store commit failed.*database or disk is full/.test(l))).to.equal(true);

    // The disk is freed (no cap) and the server restarted: only what was acknowledged is there.
    await serve();
    expect((await admin.progress()).total).to.equal(1);
    expect(await admin.getTask('a')).to.deep.include({
      status: TaskStatus.RUNNING,
      attempt: 1,
      workerId: 'w1',
    });
    expect((await admin.costs()).global?.spentUsd).to.equal(0);
    // The worker resends what was refused; now it is stored and acknowledged.
    const again = openRawSession((server as BatonServer).url, 'w1');
    sessions.push(again);
    await again.next('welcome', (m) => (m.kind.case === 'welcome' ? m : undefined));
    again.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'a', attempt: 1 } } });
    expect((await again.receipt(2)).ok).to.equal(true);
    expect((await admin.getTask('a')).status).to.equal(TaskStatus.COMPLETE);
  });

  it('a locked store (SQLITE_BUSY) refuses writes until the lock goes, then stores what it kept', async () => {
    await serve({ pragmas: { busy_timeout: 50 } });
    const w1 = await holding('w1', 'b');

    const other = new Database(dbPath);
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN EXCLUSIVE');
    let locked = true;
    try {
      // Applied in memory, but its turn's commit failed: UNAVAILABLE ("may or may not have happened").
      w1.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'b', attempt: 1 } } });
      const receipt = await w1.receipt(2);
      expect(receipt.ok).to.equal(false);
      expect(receipt.error?.code).to.equal(ErrorCode.UNAVAILABLE);
      expect(receipt.error?.message).to.match(/database is locked/);
      // Refused up front while degraded: the coordinator never sees it.
      const add = await rejection(admin.addTask({ id: 'x' }));
      expect(add.code).to.equal(Code.Unavailable);
      expect((await rejection(admin.getTask('x'))).code).to.equal(Code.NotFound);
      const status = await getJson((server as BatonServer).url, '/api/coordination/status');
      expect(status.progress.total).to.equal(1);

      other.exec('ROLLBACK');
      locked = false;
    } finally {
      if (locked) other.exec('ROLLBACK');
      other.close();
    }
    // The kept changes are retried (every second); once stored, writes are accepted again.
    await waitFor(
      'the store to accept writes',
      () =>
        admin.addTask({ id: 'y' }).then(
          () => true,
          () => false,
        ),
      5000,
      100,
    );
    expect((await admin.getTask('b')).status).to.equal(TaskStatus.COMPLETE);
    // The worker, having had no answer, resends: a repeat of an applied report is acknowledged.
    w1.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'b', attempt: 1 } } });
    expect((await w1.receipt(2)).ok).to.equal(true);

    await serve();
    expect((await admin.getTask('b')).status).to.equal(TaskStatus.COMPLETE);
    expect((await admin.listTasks()).tasks.map((t) => t.id)).to.deep.equal(['b', 'y']);
  });

  it('an SDK worker rides out a locked store: refused reports are resent until acknowledged', async () => {
    await serve({ pragmas: { busy_timeout: 50 } }, { leaseTtlMs: 600 });
    const tally = newTally();
    let go!: () => void;
    const gate = new Promise<void>((done) => {
      go = done;
    });
    const outcomes: string[] = [];
    const worker = createWorker({
      url: (server as BatonServer).url,
      id: 'sdk',
      capabilities: [],
      maxConcurrency: 1,
      transport: createGrpcTransport({
        baseUrl: (server as BatonServer).url,
        interceptors: [tallyInterceptor(tally)],
      }),
      async handler(_task, ctx) {
        await gate;
        outcomes.push(await ctx.reportCost({ totalUsd: 0.01, inputTokens: 5, outputTokens: 5 }));
        return 'done';
      },
    });
    await worker.start();
    try {
      await admin.addTask({ id: 't' });
      await waitFor('t to run', async () => (await admin.getTask('t')).status === TaskStatus.RUNNING);
      const other = new Database(dbPath);
      other.pragma('busy_timeout = 0');
      other.exec('BEGIN EXCLUSIVE');
      try {
        go();
        await waitFor('refusals to be resent', () => (tally.refusals.get('UNAVAILABLE') ?? 0) >= 3, 5000);
        expect(outcomes).to.deep.equal([]);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      await waitFor(
        't to complete',
        async () => (await admin.getTask('t')).status === TaskStatus.COMPLETE,
        5000,
      );
      // The store has it; the worker hears so a moment later (the ack crosses the interceptor).
      await waitFor('the completion to be acknowledged', () => tally.completions.has('t'), 5000);
      expect(outcomes).to.deep.equal(['applied']);
      expect(tally.completions.get('t')).to.equal(1);
      expect(tally.costMicros).to.equal(10_000);
      // Refused, resent, maybe applied in the failed turn too: counted once all the same.
      expect((await admin.costs()).global?.spentUsd).to.equal(0.01);
    } finally {
      await worker.stop({ signal: AbortSignal.timeout(2000) });
    }
  });

  it('a read-only store (query_only) refuses every mutation with UNAVAILABLE and keeps serving reads', async () => {
    await serve();
    await admin.addTasks([{ id: 'p' }, { id: 'q', deps: ['p'] }]);
    await serve({ pragmas: { query_only: 1 } });
    expect((await admin.progress()).total).to.equal(2);
    for (const call of [() => admin.addTask({ id: 'r' }), () => admin.cancelTask('q'), () => admin.drain()]) {
      const error = await rejection(call());
      expect(error.code).to.equal(Code.Unavailable);
      expect(error.rawMessage).to.match(/the store cannot write \(attempt to write a readonly database\)/);
    }
    const tasks = await getJson((server as BatonServer).url, '/api/coordination/tasks');
    expect(tasks.tasks.map((t: { id: string }) => t.id)).to.deep.equal(['p', 'q', 'r']);
    await serve();
    // Nothing of it was stored: r, the cancel and the drain never happened.
    expect((await admin.listTasks()).tasks.map((t) => [t.id, TaskStatus[t.status]])).to.deep.equal([
      ['p', 'PENDING'],
      ['q', 'PENDING'],
    ]);
    expect((await admin.status()).state).to.not.equal(3);
  });

  describe('store files: ownership, schema versions, migrations', () => {
    async function expectRefused(file: string, message: RegExp): Promise<void> {
      const before = readFileSync(file);
      const proc = runCli(['--port', '0', '--db', file]);
      const code = await proc.exited;
      expect(code, proc.output()).to.equal(1);
      expect(proc.output()).to.match(message);
      expect(proc.output()).to.not.include('listening');
      expect(readFileSync(file).equals(before), 'file left byte-identical').to.equal(true);
    }

    it('a corrupt file (garbage bytes): exit 1, a clear message, the file untouched', async () => {
      const file = join(dir.path, 'garbage.db');
      writeFileSync(file, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 256)));
      await expectRefused(file, /baton: cannot start: .*garbage\.db is not a SQLite database/);
      expect(existsSync(`${file}-wal`)).to.equal(false);
    });

    it('a Baton file whose pages are damaged: exit 1, never overwritten', async () => {
      const store = openSqliteStore({ path: dbPath });
      store.commit({
        state: 'running',
        upsertTasks: [],
        removeTasks: [],
        upsertLeases: [],
        removeLeases: [],
      });
      store.close();
      const bytes = readFileSync(dbPath);
      bytes.fill(0xa5, 4096); // everything past the header page
      writeFileSync(dbPath, bytes);
      await expectRefused(dbPath, /baton: cannot start: .*(malformed|not a database|unreadable)/);
    });

    it("another program's SQLite database: exit 1, a clear message, the file untouched", async () => {
      const file = join(dir.path, 'foreign.db');
      const db = new Database(file);
      db.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')");
      db.close();
      await expectRefused(file, /foreign\.db is a SQLite database that does not belong to Baton/);
    });

    it('a Baton store from a newer Baton (schema version above ours): exit 1, the file untouched', async () => {
      openSqliteStore({ path: dbPath }).close();
      const db = new Database(dbPath);
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();
      await expectRefused(dbPath, new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this Baton`));
    });

    it('a store from an older Baton is migrated in place, its state intact', () => {
      const v1 = new Database(dbPath);
      v1.pragma('journal_mode = WAL');
      (MIGRATIONS[0] as (db: Database.Database) => void)(v1);
      v1.pragma(`application_id = ${APPLICATION_ID}`);
      v1.pragma('user_version = 1');
      const costs: CostSnapshot = {
        version: 1,
        global: { warned: true, exceeded: false },
        workers: [
          {
            workerId: 'w1',
            spentMicroUsd: 250_000,
            inputTokens: 7,
            outputTokens: 3,
            warned: false,
            exceeded: false,
            recentReportIds: ['r1', 'r2'],
          },
          {
            workerId: 'w2',
            spentMicroUsd: 1,
            inputTokens: 0,
            outputTokens: 0,
            warned: false,
            exceeded: false,
          },
        ],
      };
      const put = v1.prepare('INSERT INTO meta VALUES (?, ?)');
      put.run('state', 'running');
      put.run('costs', JSON.stringify(costs));
      v1.close();

      const store = openSqliteStore({ path: dbPath });
      const image = store.load();
      expect(image?.state).to.equal('running');
      expect(image?.costs).to.deep.equal({
        ...costs,
        workers: [costs.workers[0], { ...costs.workers[1], recentReportIds: [] }],
      });
      // New report ids go after the migrated ones, and only the last RECENT_REPORTS are kept.
      const ids = Array.from({ length: RECENT_REPORTS }, (_, i) => ['w1', `n${i}`] as const);
      store.commit({
        upsertTasks: [],
        removeTasks: [],
        upsertLeases: [],
        removeLeases: [],
        costs: { global: costs.global, accounts: [], reportIds: ids },
      });
      expect(store.load()?.costs?.workers[0]?.recentReportIds).to.deep.equal(ids.map(([, id]) => id));
      store.close();
      const db = new Database(dbPath, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      expect(db.prepare("SELECT count(*) AS n FROM meta WHERE key = 'costs'").get()).to.deep.equal({ n: 0 });
      db.close();
    });

    it('a store written by schema version 3 (one JSON row per task) is migrated and reads back the same', () => {
      // Made by the code of schema 3 (fixtures/v3-store.md): the image is what that code read back.
      const fixtures = new URL('../../../test/durability/fixtures/', import.meta.url);
      copyFileSync(new URL('v3-store.db', fixtures), dbPath);
      const expected = JSON.parse(readFileSync(new URL('v3-store.image.json', fixtures), 'utf8')) as {
        tasks: { nextSeq: number; tasks: TaskRow[] };
      };
      // Schema 5 adds task_state.not_before: NULL (nothing holds the task back) for every older task.
      expected.tasks.tasks = expected.tasks.tasks.map((t) => ({ ...t, notBefore: null }));
      const store = openSqliteStore({ path: dbPath });
      const image = store.load();
      expect(image).to.deep.equal(expected);

      // A transition after the migration writes the state of a migrated task; a new task gets its rows.
      const running = expected.tasks.tasks.find((t) => t.id === 'b') as TaskRow;
      const done = {
        ...running,
        status: 'complete',
        result: { ok: true },
        finishedAt: 1_800_000_000_000,
      } as const;
      const next = expected.tasks.nextSeq;
      const added = { ...done, id: 'h', seq: next, status: 'pending', workerId: null, result: null } as const;
      const noChange = { removeTasks: [], upsertLeases: [], removeLeases: [] };
      store.commit({ ...noChange, nextSeq: next + 1, upsertTasks: [done, added] });
      store.close();
      const reopened = openSqliteStore({ path: dbPath });
      const tasks = reopened.load()?.tasks;
      reopened.close();
      expect(tasks?.nextSeq).to.equal(next + 1);
      expect(tasks?.tasks.map((t) => t.id)).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
      expect(tasks?.tasks.find((t) => t.id === 'b')).to.deep.equal(done);
      expect(tasks?.tasks.find((t) => t.id === 'h')).to.deep.equal(added);

      const db = new Database(dbPath, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      const tables = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'task%'")
        .all();
      expect(tables.map((t) => (t as { name: string }).name).sort()).to.deep.equal([
        'task_log',
        'task_results',
        'task_specs',
        'task_state',
      ]);
      db.close();
    });

    it('a store written by schema version 5 (task state updated in place) is migrated and reads back the same', () => {
      // Made by the code of schema 5 (fixtures/v5-store.md): the image is what that code read back.
      const fixtures = new URL('../../../test/durability/fixtures/', import.meta.url);
      copyFileSync(new URL('v5-store.db', fixtures), dbPath);
      const expected = JSON.parse(readFileSync(new URL('v5-store.image.json', fixtures), 'utf8')) as {
        tasks: { nextSeq: number; tasks: TaskRow[] };
      };
      const store = openSqliteStore({ path: dbPath });
      expect(store.load()).to.deep.equal(expected);

      // A transition of a migrated task goes to the log and wins over its folded state.
      const running = expected.tasks.tasks.find((t) => t.id === 'b') as TaskRow;
      const done = { ...running, status: 'complete', result: 7, finishedAt: 1_800_000_000_000 } as const;
      store.commit({ removeTasks: [], upsertLeases: [], removeLeases: [], upsertTasks: [done] });
      store.close();
      const reopened = openSqliteStore({ path: dbPath });
      const tasks = reopened.load()?.tasks.tasks;
      reopened.close();
      expect(tasks?.find((t) => t.id === 'b')).to.deep.equal(done);
      expect(tasks?.filter((t) => t.id !== 'b')).to.deep.equal(
        expected.tasks.tasks.filter((t) => t.id !== 'b'),
      );
    });

    it('a new store is stamped with application_id and user_version', () => {
      openSqliteStore({ path: dbPath }).close();
      const db = new Database(dbPath, { readonly: true });
      expect(db.pragma('application_id', { simple: true })).to.equal(APPLICATION_ID);
      expect(db.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
      db.close();
    });
  });
});
