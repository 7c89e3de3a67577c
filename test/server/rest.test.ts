import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CoordinatorService } from '../../src/server/codec/proto.js';
import { createRestGateway } from '../../src/server/rest/gateway.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Json;
}

interface SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: Json;
}

async function request(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers = {},
): Promise<Reply> {
  const init: RequestInit = {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
  };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** Opens an SSE stream with fetch and reads it frame by frame. */
async function openEvents(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const next = async (): Promise<SseEvent> => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of frame.split('\n')) {
          const colon = line.indexOf(':');
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
        }
        const data = fields.get('data');
        if (data !== undefined)
          return { id: fields.get('id'), event: fields.get('event'), data: JSON.parse(data) };
        continue; // `retry:` and keep-alive comments
      }
      if (Date.now() > deadline) throw new Error('no event within 3 s');
      const chunk = await reader.read();
      if (chunk.done) throw new Error('event stream ended');
      buffer += decoder.decode(chunk.value, { stream: true });
    }
  };
  const close = () => {
    abort.abort();
    reader.cancel().catch(() => {});
  };
  return { response, next, close };
}

describe('REST gateway', () => {
  let server: BatonServer;
  const logged: unknown[] = [];
  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    request(`${server.url}/api/coordination`, method, path, body, headers);
  const taskCount = () => server.coordinator.taskQueue.getProgress().total;

  /** Completes a task the way a worker would, without a worker SDK. */
  const complete = (id: string, workerId = 'w-rest'): void => {
    const c = server.coordinator;
    c.workerJoined({ id: workerId, maxConcurrency: 1 });
    const assignment = c.request(workerId).find((a) => a.task.id === id);
    expect(assignment, `task ${id} assigned`).to.not.equal(undefined);
    // Offline first, so the slot it frees is not filled with another test's task.
    c.workerLeft(workerId, 'test done');
    c.complete(workerId, id, assignment?.task.attempt ?? 0, { ok: true });
  };

  before(async () => {
    server = await startServer({
      port: 0,
      strategy: 'round-robin',
      log: (_message, error) => logged.push(error),
    });
  });
  after(async () => {
    await server.close();
  });

  describe('status and lifecycle views', () => {
    it('GET /status answers the full picture with enum words', async () => {
      const reply = await api('GET', '/status');
      expect(reply.status).to.equal(200);
      expect(reply.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(reply.body.state).to.equal('running');
      expect(reply.body.strategy).to.equal('round-robin');
      expect(reply.body.workers).to.deep.equal([]);
      expect(reply.body.progress).to.include({ total: 0, pending: 0 });
      expect(reply.body.leaseTtlMs).to.be.a('number');
    });

    it('GET /progress, /rate-limit and /costs answer with the status object itself', async () => {
      const progress = await api('GET', '/progress');
      expect(progress.status).to.equal(200);
      expect(progress.body).to.include({ total: 0, complete: 0, percentComplete: 0 });
      const rate = await api('GET', '/rate-limit');
      expect(rate.status).to.equal(200);
      expect(rate.body).to.include({ maxRequestsPerMinute: 600, queueLength: 0 });
      const costs = await api('GET', '/costs');
      expect(costs.status).to.equal(200);
      expect(costs.body.global).to.include({ spentUsd: 0, warning: false, exceeded: false });
      expect(costs.body.warningThreshold).to.equal(0.8);
    });
  });

  describe('tasks', () => {
    it('POST /tasks takes the TaskSpec as the body and answers with the Task, metadata untouched', async () => {
      const metadata = {
        prompt: 'fix it',
        status: 'TASK_STATUS_FAILED',
        kind: 'EVENT_KIND_STARTED',
        n: [1, { x: null }],
      };
      const reply = await api('POST', '/tasks', { id: 'a1', priority: 2, category: 'code', metadata });
      expect(reply.status).to.equal(200);
      expect(reply.body).to.include({
        id: 'a1',
        priority: 2,
        category: 'code',
        status: 'pending',
        attempt: 0,
      });
      expect(reply.body.deps).to.deep.equal([]);
      expect(reply.body.metadata).to.deep.equal(metadata);
      expect(reply.body.createdAt).to.be.a('string');
    });

    it('POST /tasks/batch adds tasks with deps in any order, answered in the order given', async () => {
      const reply = await api('POST', '/tasks/batch', {
        tasks: [
          { id: 'b2', deps: ['b1'] },
          { id: 'b1', deps: ['a1'], maxAttempts: 5 },
        ],
      });
      expect(reply.status).to.equal(200);
      expect(reply.body.tasks.map((t: Json) => [t.id, t.status, t.deps])).to.deep.equal([
        ['b2', 'pending', ['b1']],
        ['b1', 'pending', ['a1']],
      ]);
      expect(reply.body.tasks[1].maxAttempts).to.equal(5);
    });

    it('GET /tasks/:id answers with the task itself', async () => {
      const reply = await api('GET', '/tasks/b2');
      expect(reply.status).to.equal(200);
      expect(reply.body).to.include({ id: 'b2', status: 'pending' });
    });

    it('GET /tasks lists in order added, filters by status word or name, and pages', async () => {
      const all = await api('GET', '/tasks');
      const ids = all.body.tasks.map((t: Json) => t.id);
      expect(ids[0]).to.equal('a1');
      expect(ids).to.have.members(['a1', 'b1', 'b2']);
      expect(all.body.totalSize).to.equal(3);
      expect(all.body.nextPageToken).to.equal('');

      const first = await api('GET', '/tasks?status=pending&limit=2');
      expect(first.body.tasks.map((t: Json) => t.id)).to.deep.equal(ids.slice(0, 2));
      expect(first.body.totalSize).to.equal(3);
      const second = await api('GET', `/tasks?status=pending&limit=2&page_token=${first.body.nextPageToken}`);
      expect(second.body.tasks.map((t: Json) => t.id)).to.deep.equal(ids.slice(2));
      expect(second.body.nextPageToken).to.equal('');

      for (const query of [
        'status=failed&status=cancelled',
        'status=TASK_STATUS_FAILED',
        'status=failed,complete',
      ]) {
        const none = await api('GET', `/tasks?${query}`);
        expect(none.status, query).to.equal(200);
        expect(none.body.tasks, query).to.deep.equal([]);
      }
    });

    it('POST /tasks/:id/cancel cascades to dependents; POST /tasks/:id/retry brings them back', async () => {
      const cancel = await api('POST', '/tasks/b1/cancel', { reason: 'not now' });
      expect(cancel.status).to.equal(200);
      expect(cancel.body.task).to.include({ id: 'b1', status: 'cancelled' });
      expect(cancel.body.cascadedIds).to.deep.equal(['b2']);
      const cancelled = await api('GET', '/tasks?status=cancelled');
      expect(cancelled.body.tasks.map((t: Json) => [t.id, t.cancelledBy])).to.have.deep.members([
        ['b2', 'b1'],
        ['b1', ''],
      ]);

      const retry = await api('POST', '/tasks/b1/retry');
      expect(retry.status).to.equal(200);
      expect(retry.body.task).to.include({ id: 'b1', status: 'pending' });
      expect(retry.body.cascadedIds).to.deep.equal(['b2']);
    });

    it('filters by worker_id or workerId, after a worker completed a task', async () => {
      await api('POST', '/tasks', { id: 'c1', priority: 1e9 });
      complete('c1');
      for (const name of ['worker_id', 'workerId']) {
        const reply = await api('GET', `/tasks?${name}=w-rest`);
        expect(reply.status, name).to.equal(200);
        expect(
          reply.body.tasks.map((t: Json) => [t.id, t.status]),
          name,
        ).to.deep.equal([['c1', 'complete']]);
        expect(reply.body.tasks[0].result).to.deep.equal({ ok: true });
      }
      const progress = await api('GET', '/progress');
      expect(progress.body).to.include({ total: 4, complete: 1, pending: 3 });
    });
  });

  describe('paths', () => {
    it('POST /tasks keeps the paths a task claims, normalized, and refuses a glob outside the repository', async () => {
      const reply = await api('POST', '/tasks', { id: 'p1', paths: ['./src/', 'docs/**/*.md'] });
      expect(reply.status).to.equal(200);
      expect(reply.body.paths).to.deep.equal(['src', 'docs/**/*.md']);
      const bad = await api('POST', '/tasks', { id: 'p2', paths: ['ok', '../etc'] });
      expect(bad.status).to.equal(400);
      expect(bad.body.message).to.include('paths[1]').and.include('"../etc"');
      expect((await api('GET', '/tasks/p2')).status).to.equal(404);
    });
  });

  describe('errors', () => {
    it('malformed JSON is 400 invalid_argument', async () => {
      const reply = await api('POST', '/tasks', '{"id": ');
      expect(reply.status).to.equal(400);
      expect(reply.body.code).to.equal('invalid_argument');
      expect(reply.body.message).to.match(/not valid JSON/);
    });

    it('an unknown field is 400 naming the field; an unknown query parameter too', async () => {
      const field = await api('POST', '/tasks', { id: 'x1', prio: 3 });
      expect(field.status).to.equal(400);
      expect(field.body.message).to.include('"prio"');
      const param = await api('GET', '/tasks?colour=red');
      expect(param.status).to.equal(400);
      expect(param.body).to.include({ code: 'invalid_argument' });
      expect(param.body.message).to.include('colour');
      const twice = await api('GET', '/tasks?worker_id=a&workerId=b');
      expect(twice.status).to.equal(400);
      expect(twice.body.message).to.include('same field');
      const word = await api('GET', '/tasks?status=finished');
      expect(word.status).to.equal(400);
      expect(word.body.message).to.include('finished');
    });

    it('an unknown dep is 400 naming it, and adds nothing', async () => {
      const before = taskCount();
      const reply = await api('POST', '/tasks/batch', {
        tasks: [{ id: 'd1' }, { id: 'd2', deps: ['ghost'] }],
      });
      expect(reply.status).to.equal(400);
      expect(reply.body.code).to.equal('invalid_argument');
      expect(reply.body.message).to.include('ghost');
      expect(reply.body.field).to.equal('tasks[1].deps');
      expect(taskCount()).to.equal(before);
    });

    it('a cycle is 400 naming its path, and leaves the task count unchanged', async () => {
      const before = taskCount();
      const reply = await api('POST', '/tasks/batch', {
        tasks: [
          { id: 'y1', deps: ['y3'] },
          { id: 'y2', deps: ['y1'] },
          { id: 'y3', deps: ['y2'] },
        ],
      });
      expect(reply.status).to.equal(400);
      expect(reply.body.code).to.equal('invalid_argument');
      expect(reply.body.message).to.match(/cycle/);
      for (const id of ['y1', 'y2', 'y3']) expect(reply.body.message).to.include(id);
      expect(taskCount()).to.equal(before);
      expect((await api('GET', '/tasks/y1')).status).to.equal(404);
    });

    it('an unknown task is 404 not_found', async () => {
      for (const [method, path] of [
        ['GET', '/tasks/nope'],
        ['POST', '/tasks/nope/cancel'],
        ['POST', '/tasks/nope/retry'],
      ] as const) {
        const reply = await api(method, path);
        expect(reply.status, path).to.equal(404);
        expect(reply.body, path).to.deep.include({ code: 'not_found', message: 'task nope not found' });
      }
    });

    it('a duplicate id is 409 already_exists', async () => {
      const reply = await api('POST', '/tasks', { id: 'a1' });
      expect(reply.status).to.equal(409);
      expect(reply.body.code).to.equal('already_exists');
    });

    it('cancelling a complete task and retrying a pending one are 409 failed_precondition', async () => {
      const cancel = await api('POST', '/tasks/c1/cancel');
      expect(cancel.status).to.equal(409);
      expect(cancel.body.code).to.equal('failed_precondition');
      expect(cancel.body.message).to.include('complete');
      const retry = await api('POST', '/tasks/a1/retry');
      expect(retry.status).to.equal(409);
      expect(retry.body.code).to.equal('failed_precondition');
      expect((await api('GET', '/tasks/a1')).body.status).to.equal('pending');
    });

    it('refuses a write from another origin with 403 (CSRF), and changes nothing', async () => {
      const evil = { origin: 'http://evil.example' };
      const add = await api('POST', '/tasks', { id: 'csrf1' }, evil);
      expect(add.status).to.equal(403);
      expect(add.body).to.include({ code: 'permission_denied' });
      expect(add.body.message).to.include('http://evil.example');
      expect((await api('POST', '/stop', undefined, { origin: 'null' })).status).to.equal(403);
      expect((await api('GET', '/tasks/csrf1')).status).to.equal(404);
      expect((await api('GET', '/status')).body.state).to.equal('running');
      // Reads stay open to any page; a write from the server's own origin is fine.
      expect((await api('GET', '/progress', undefined, evil)).status).to.equal(200);
      const own = { origin: new URL(server.url).origin };
      expect((await api('POST', '/tasks', { id: 'csrf-own' }, own)).status).to.equal(200);
      const proxied = { origin: 'https://baton.example', 'x-forwarded-host': 'baton.example' };
      expect((await api('POST', '/tasks', { id: 'csrf-proxied' }, proxied)).status).to.equal(200);
    });

    it('refuses a body that is not plain JSON (a form, text/plain, gzip) with 415, and changes nothing', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const reply = await api('POST', '/tasks', '{"id": "form1"}', { 'content-type': type });
        expect(reply.status, type).to.equal(415);
        expect(reply.headers.get('accept'), type).to.equal('application/json');
        expect(reply.body.message, type).to.include(type);
      }
      expect((await api('GET', '/tasks/form1')).status).to.equal(404);
      const gzipped = await api('POST', '/tasks', '{"id": "form1"}', { 'content-encoding': 'gzip' });
      expect(gzipped.status).to.equal(415);
      expect(gzipped.headers.get('accept-encoding')).to.equal('identity');
      const typed = await api('POST', '/tasks', '{"id": "form1"}', {
        'content-type': 'application/json; charset=utf-8',
      });
      expect(typed.status).to.equal(200);
    });

    it('an unknown path is 404 JSON; a known path with the wrong method is 405 with Allow', async () => {
      const missing = await api('GET', '/nothing-here');
      expect(missing.status).to.equal(404);
      expect(missing.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(missing.body.code).to.equal('not_found');
      const wrong = await api('DELETE', '/tasks');
      expect(wrong.status).to.equal(405);
      expect(wrong.headers.get('allow')).to.equal('GET, HEAD, POST');
      const wrongOne = await api('POST', '/status');
      expect(wrongOne.status).to.equal(405);
      expect(wrongOne.headers.get('allow')).to.equal('GET, HEAD');
    });
  });

  describe('events', () => {
    it('GET /events streams task-added events as SSE with increasing ids, filtered by kind', async () => {
      const stream = await openEvents(`${server.url}/api/coordination/events?kinds=task-added`);
      try {
        expect(stream.response.status).to.equal(200);
        expect(stream.response.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
        await api('POST', '/tasks/batch', { tasks: [{ id: 'e1' }, { id: 'e2' }, { id: 'e3' }] });
        await api('POST', '/tasks/e3/cancel'); // not a task-added event: filtered out
        await api('POST', '/tasks', { id: 'e4' });
        const events = [await stream.next(), await stream.next(), await stream.next(), await stream.next()];
        expect(events.map((e) => e.event)).to.deep.equal(Array(4).fill('coord:task-added'));
        expect(events.map((e) => e.data.task.id)).to.deep.equal(['e1', 'e2', 'e3', 'e4']);
        expect(events.map((e) => e.data.kind)).to.deep.equal(Array(4).fill('task-added'));
        expect(events[0]?.data.task.status).to.equal('pending');
        const ids = events.map((e) => Number(e.id));
        for (const [i, id] of ids.entries()) {
          expect(id).to.equal(Number(events[i]?.data.sequence));
          if (i > 0) expect(id).to.be.greaterThan(ids[i - 1] as number);
        }
        expect(ids[3]).to.be.greaterThan((ids[2] as number) + 1); // the cancel took a sequence number
      } finally {
        stream.close();
      }
    });

    it('Last-Event-ID resumes after the last event seen; task_id and coord:* kind names filter', async () => {
      const all = await openEvents(`${server.url}/api/coordination/events?since_sequence=1`);
      const first = await all.next();
      all.close();
      const resumed = await openEvents(
        `${server.url}/api/coordination/events?kinds=coord:task-added&task_id=e2`,
        {
          'last-event-id': String(first.id),
        },
      );
      try {
        const event = await resumed.next();
        expect(event.event).to.equal('coord:task-added');
        expect(event.data.task.id).to.equal('e2');
        expect(Number(event.id)).to.be.greaterThan(Number(first.id));
      } finally {
        resumed.close();
      }
    });

    it('opens with a comment saying it is live from now, and how to replay; or what it replays', async () => {
      const opening = async (query: string): Promise<string> => {
        const abort = new AbortController();
        const response = await fetch(`${server.url}/api/coordination/events${query}`, {
          signal: abort.signal,
        });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        let text = '';
        while (!text.includes('\n\n')) text += Buffer.from((await reader.read()).value ?? []).toString();
        abort.abort();
        await reader.cancel().catch(() => {});
        return text.slice(0, text.indexOf('\n\n') + 2);
      };
      expect(await opening('')).to.equal(
        'retry: 1000\n: live: events from now on (add ?since_sequence=0 to replay the retained ones first)\n\n',
      );
      expect(await opening('?since_sequence=0')).to.equal(
        'retry: 1000\n: replaying retained events after sequence 0, then live\n\n',
      );
    });

    it('a bad event filter is a 400 JSON answer, not a stream', async () => {
      const reply = await api('GET', '/events?kinds=task-exploded');
      expect(reply.status).to.equal(400);
      expect(reply.body.code).to.equal('invalid_argument');
      const badId = await api('GET', '/events', undefined, { 'last-event-id': 'yesterday' });
      expect(badId.status).to.equal(400);
    });
  });

  describe('Connect JSON on the RPC paths over HTTP/1.1', () => {
    const rpc = (method: string, body: unknown) =>
      request(server.url, 'POST', `/coord.v1.CoordinatorService/${method}`, body);

    it('answers with canonical enum names', async () => {
      const progress = await rpc('GetProgress', {});
      expect(progress.status).to.equal(200);
      expect(progress.body.progress.total).to.equal(taskCount());
      const status = await rpc('GetStatus', {});
      expect(status.body.state).to.equal('LIFECYCLE_STATE_RUNNING');
    });

    it('answers errors as Connect error JSON', async () => {
      const reply = await rpc('GetTask', { id: 'nope' });
      expect(reply.status).to.equal(404);
      expect(reply.body).to.deep.equal({ code: 'not_found', message: 'task nope not found' });
    });
  });

  describe('lifecycle', () => {
    it('POST /start, /drain and /stop move the coordinator on; afterwards writes are 503', async () => {
      const start = await api('POST', '/start');
      expect(start.status).to.equal(200);
      expect(start.body).to.deep.equal({ state: 'running' });
      const drain = await api('POST', '/drain', { reason: 'maintenance' });
      expect(drain.status).to.equal(200);
      expect(drain.body.state).to.be.oneOf(['draining', 'drained']);
      const stop = await api('POST', '/stop', {});
      expect(stop.status).to.equal(200);
      expect(stop.body).to.deep.equal({ state: 'stopped' });

      const before = taskCount();
      const add = await api('POST', '/tasks', { id: 'late' });
      expect(add.status).to.equal(503);
      expect(add.body.code).to.equal('unavailable');
      expect(taskCount()).to.equal(before);
      const restart = await api('POST', '/start');
      expect(restart.status).to.equal(409);
      expect(restart.body.code).to.equal('failed_precondition');
      expect(restart.body.message).to.include('--reopen');
      expect(logged).to.deep.equal([]);
    });
  });
});

describe('REST lifecycle: drain is a pause', () => {
  let server: BatonServer;
  const api = (method: string, path: string, body?: unknown) =>
    request(`${server.url}/api/coordination`, method, path, body);
  before(async () => {
    server = await startServer({ port: 0 });
  });
  after(() => server.close());

  it('an idle POST /drain ends drained, not stopped, and POST /start resumes it', async () => {
    expect((await api('POST', '/drain', {})).body).to.deep.equal({ state: 'drained' });
    expect((await api('GET', '/status')).body.state).to.equal('drained');
    expect((await api('POST', '/tasks', { id: 'while-drained' })).status).to.equal(200);
    const start = await api('POST', '/start');
    expect(start.status).to.equal(200);
    expect(start.body).to.deep.equal({ state: 'running' });
  });
});

describe('REST gateway on its own', () => {
  let httpServer: http.Server;
  let base: string;
  const logged: unknown[] = [];

  before(async () => {
    const implementation = Object.fromEntries(
      CoordinatorService.methods.map((m) => [m.localName, () => ({})]),
    ) as Record<string, unknown>;
    implementation.getProgress = () => {
      throw new Error('secret internals at /srv/baton');
    };
    implementation.getTask = (req: { id: string }) => ({ task: { id: req.id, status: 2 } });
    const gateway = createRestGateway({
      services: [{ service: CoordinatorService, implementation }],
      log: (error) => logged.push(error),
      maxBodyBytes: 1024,
    });
    httpServer = http.createServer(gateway);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/api/coordination`;
  });
  after(async () => {
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer.close(resolve));
  });

  it('refuses a body over the limit with 413', async () => {
    const reply = await request(base, 'POST', '/tasks', { id: 'x', metadata: { blob: 'x'.repeat(2000) } });
    expect(reply.status).to.equal(413);
    expect(reply.body.code).to.equal('resource_exhausted');
  });

  it('hides unexpected errors behind 500 "internal error" and logs them', async () => {
    const reply = await request(base, 'GET', '/progress');
    expect(reply.status).to.equal(500);
    expect(reply.body).to.deep.equal({ code: 'internal', message: 'internal error' });
    expect(String(logged[0])).to.include('secret internals');
  });

  it('binds path variables, URL-decoded, to request fields', async () => {
    const reply = await request(base, 'GET', '/tasks/a%2Fb%20c');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ id: 'a/b c', status: 'assigned' });
  });
});
