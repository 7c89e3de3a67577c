import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { batonErrorDetail, createAdminClient } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { restCall } from '../support/json-http.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

/**
 * The graph every spec starts from: a and b (a dep of a) complete, c (a dep of a) cancelled and
 * retried, so pending or held again, d cancelled, e not yet settled.
 */
function seed(server: BatonServer): void {
  const c = server.coordinator;
  c.workerJoined({ id: 'w1', maxConcurrency: 1 });
  c.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }, { id: 'd' }]);
  c.complete('w1', 'a', 1);
  c.complete('w1', 'b', 1);
  c.cancelTask('c');
  c.retryTask('c');
  c.cancelTask('d');
  c.addTask({ id: 'e' });
}

const api = (server: BatonServer, method: string, path: string, body?: unknown) =>
  restCall(server.url, method, path, body);

describe('Deleting and purging settled tasks', () => {
  let server: BatonServer;
  const ids = () => server.coordinator.taskQueue.getAll().map((t) => t.id);

  describe('over REST', () => {
    beforeEach(async () => {
      server = await startServer({ port: 0 });
      seed(server);
    });
    afterEach(async () => {
      await server.close();
    });

    it('DELETE /tasks/:id deletes a settled task and answers with it; it is then 404', async () => {
      const reply = await api(server, 'DELETE', '/tasks/d');
      expect(reply.status).to.equal(200);
      expect(reply.body).to.include({ id: 'd', status: 'cancelled' });
      expect((await api(server, 'GET', '/tasks/d')).status).to.equal(404);
      expect((await api(server, 'GET', '/progress')).body).to.include({ total: 4, cancelled: 0 });
    });

    it('an unknown id is 404, an unsettled task or one with dependents 409, each naming the task, changing nothing', async () => {
      const before = ids();
      const unknown = await api(server, 'DELETE', '/tasks/nope');
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.deep.include({
        code: 'not_found',
        message: 'task nope not found',
        taskId: 'nope',
      });
      const running = await api(server, 'DELETE', '/tasks/e');
      expect(running.status).to.equal(409);
      expect(running.body).to.include({ code: 'failed_precondition', taskId: 'e' });
      expect(running.body.message)
        .to.include('task e')
        .and.match(/it is (pending|assigned)/);
      const depended = await api(server, 'DELETE', '/tasks/a');
      expect(depended.status).to.equal(409);
      expect(depended.body.message)
        .to.include('task a')
        .and.include('b (complete)')
        .and.match(/c \((pending|assigned)\)/);
      expect(depended.body.data).to.deep.equal({ dependents: ['b', 'c'] });
      expect(ids()).to.deep.equal(before);
    });

    it('a listing carries on from its page token, skipping nothing, when tasks before it were deleted', async () => {
      const first = await api(server, 'GET', '/tasks?limit=2');
      expect(first.body.tasks.map((t: Json) => t.id)).to.deep.equal(['a', 'b']);
      await api(server, 'DELETE', '/tasks/b');
      await api(server, 'DELETE', '/tasks/d');
      const second = await api(server, 'GET', `/tasks?limit=2&page_token=${first.body.nextPageToken}`);
      expect(second.body.tasks.map((t: Json) => t.id)).to.deep.equal(['c', 'e']);
      expect(second.body).to.include({ nextPageToken: '', totalSize: 3 });
      const forged = await api(server, 'GET', '/tasks?page_token=Mg');
      expect(forged.status).to.equal(400);
      expect(forged.body).to.include({ code: 'invalid_argument', field: 'page_token' });
    });

    it('POST /tasks/purge deletes what settled before the time, keeping what remaining tasks depend on', async () => {
      const finishedBefore = new Date(Date.now() + 60_000).toISOString();
      const reply = await api(server, 'POST', '/tasks/purge', { finishedBefore });
      expect(reply.status).to.equal(200);
      // a is kept for c (pending); b and d go.
      expect(reply.body).to.deep.equal({ purged: 2, kept: 1 });
      expect(ids()).to.deep.equal(['a', 'c', 'e']);
      const none = await api(server, 'POST', '/tasks/purge', { finished_before: '2000-01-01T00:00:00Z' });
      expect(none.body).to.deep.equal({ purged: 0, kept: 0 });
    });

    it('POST /tasks/purge refuses a missing time or an unsettled status with 400 naming the field', async () => {
      const before = ids();
      const missing = await api(server, 'POST', '/tasks/purge', {});
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ code: 'invalid_argument', field: 'finishedBefore' });
      const running = await api(server, 'POST', '/tasks/purge', {
        finishedBefore: '2100-01-01T00:00:00Z',
        status: ['complete', 'running'],
      });
      expect(running.status).to.equal(400);
      expect(running.body).to.include({ code: 'invalid_argument', field: 'status' });
      expect(running.body.message).to.include('running');
      const garbled = await api(server, 'POST', '/tasks/purge', { finishedBefore: 'yesterday' });
      expect(garbled.status).to.equal(400);
      expect(ids()).to.deep.equal(before);
    });

    it('announces coord:task-deleted with the task, and one coord:tasks-purged with the counts', async () => {
      await api(server, 'DELETE', '/tasks/d');
      await api(server, 'POST', '/tasks/purge', { finishedBefore: '2100-01-01T00:00:00Z' });
      const response = await fetch(
        `${server.url}/api/coordination/events?since_sequence=0&kinds=task-deleted&kinds=tasks-purged`,
      );
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('tasks-purged\ndata:'))
        text += Buffer.from((await reader.read()).value ?? []).toString();
      while (!text.endsWith('\n\n')) text += Buffer.from((await reader.read()).value ?? []).toString();
      await reader.cancel();
      const events = text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)));
      expect(events.map((e) => e.kind)).to.deep.equal(['task-deleted', 'tasks-purged']);
      expect(events[0].task).to.include({ id: 'd', status: 'cancelled' });
      expect(events[1].tasksPurged).to.deep.equal({
        finishedBefore: '2100-01-01T00:00:00Z',
        purged: 1,
        kept: 1,
      });
    });
  });

  describe('over Connect, with the admin client', () => {
    before(async () => {
      server = await startServer({ port: 0 });
      seed(server);
    });
    after(async () => {
      await server.close();
    });

    it('deleteTask answers the task; NOT_FOUND and FAILED_PRECONDITION carry the task and dependents', async () => {
      const admin = createAdminClient({ url: server.url });
      expect((await admin.deleteTask('d')).id).to.equal('d');
      const refusal = async (id: string) =>
        admin.deleteTask(id).then(() => expect.fail('not refused'), ConnectError.from);
      expect((await refusal('d')).code).to.equal(Code.NotFound);
      const depended = await refusal('a');
      expect(depended.code).to.equal(Code.FailedPrecondition);
      expect(batonErrorDetail(depended)?.taskId).to.equal('a');
      expect(batonErrorDetail(depended)?.data).to.deep.equal({ dependents: ['b', 'c'] });
      expect((await refusal('e')).code).to.equal(Code.FailedPrecondition);
    });

    it('purgeTasks takes a Date and a status filter and answers the counts', async () => {
      const admin = createAdminClient({ url: server.url });
      const later = new Date(Date.now() + 60_000);
      expect(await admin.purgeTasks({ finishedBefore: later, status: 'failed' })).to.deep.equal({
        purged: 0,
        kept: 0,
      });
      expect(await admin.purgeTasks({ finishedBefore: later })).to.deep.equal({ purged: 1, kept: 1 });
      expect(ids()).to.deep.equal(['a', 'c', 'e']);
      const bad = await admin
        .purgeTasks({ finishedBefore: later, status: ['running' as 'failed'] })
        .then(() => expect.fail('not refused'), ConnectError.from);
      expect(bad.code).to.equal(Code.InvalidArgument);
      expect(batonErrorDetail(bad)?.field).to.equal('status');
    });
  });

  describe('across a restart of the SQLite store', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'baton-purge-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('deleted and purged tasks stay gone, and the rest of the graph comes back whole', async () => {
      const dbPath = join(dir, 'baton.db');
      server = await startServer({ port: 0, store: 'sqlite', dbPath });
      seed(server);
      expect((await api(server, 'DELETE', '/tasks/d')).status).to.equal(200);
      expect(
        (await api(server, 'POST', '/tasks/purge', { finishedBefore: '2100-01-01T00:00:00Z' })).body,
      ).to.deep.equal({ purged: 1, kept: 1 });
      await server.close();

      server = await startServer({ port: 0, store: 'sqlite', dbPath });
      try {
        expect(ids()).to.deep.equal(['a', 'c', 'e']);
        expect((await api(server, 'GET', '/progress')).body).to.include({
          total: 3,
          complete: 1,
          cancelled: 0,
        });
        expect((await api(server, 'GET', '/tasks/b')).status).to.equal(404);
        // The kept dep still satisfies its dependent, and an id that went can be used again.
        expect(server.coordinator.taskQueue.get('c')?.status).to.be.oneOf(['pending', 'assigned']);
        expect((await api(server, 'POST', '/tasks', { id: 'b' })).status).to.equal(200);
      } finally {
        await server.close();
      }
    });
  });
});
