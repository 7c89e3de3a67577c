import { expect } from 'chai';
import { TaskStatus } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { restCall } from '../support/json-http.js';

describe('REST: a request that says two things, or the wrong kind of thing, is refused naming the field', () => {
  let server: BatonServer;
  before(async () => {
    server = await startServer({ port: 0, store: 'memory' });
  });
  after(() => server.close());

  const api = (method: string, path: string, body?: unknown) => restCall(server.url, method, path, body);
  const statusOf = (id: string) => server.coordinator.taskQueue.peek(id)?.status;
  const seed = async (...ids: string[]) => {
    for (const id of ids) expect((await api('POST', '/tasks', { id })).status).to.equal(200);
  };

  describe('a body id that contradicts the path', () => {
    it('POST /tasks/{id}/cancel and /retry with another id in the body: 400 field id, neither task touched', async () => {
      await seed('a', 'b');
      const cancel = await api('POST', '/tasks/a/cancel', { id: 'b' });
      expect(cancel.status).to.equal(400);
      expect(cancel.body).to.deep.equal({
        code: 'invalid_argument',
        message: 'id in the body ("b") contradicts the path ("a"): give it once, in the path',
        field: 'id',
      });
      expect([statusOf('a'), statusOf('b')]).to.deep.equal(['pending', 'pending']);
      const retry = await api('POST', '/tasks/a/retry', { id: 'b' });
      expect(retry.status).to.equal(400);
      expect(retry.body.field).to.equal('id');
      // The same id in both places says one thing: it is done.
      expect((await api('POST', '/tasks/a/cancel', { id: 'a' })).status).to.equal(200);
      expect([statusOf('a'), statusOf('b')]).to.deep.equal(['cancelled', 'pending']);
    });

    it('DELETE /tasks/{id} with a body: 400, naming id when it contradicts the path; the task stays', async () => {
      await seed('d1');
      await api('POST', '/tasks/d1/cancel');
      const other = await api('DELETE', '/tasks/d1', { id: 'd2' });
      expect(other.status).to.equal(400);
      expect(other.body.field).to.equal('id');
      const stray = await api('DELETE', '/tasks/d1', { force: true });
      expect(stray.status).to.equal(400);
      expect(stray.body.message).to.equal(
        'DELETE /api/coordination/tasks/{id} takes no request body: its fields go in the path and the query string',
      );
      expect(statusOf('d1')).to.equal('cancelled');
      expect((await api('DELETE', '/tasks/d1', {})).status).to.equal(200);
    });

    it('DELETE /workspaces/{worker_id} with worker_id or workerId in the body: 400 naming it', async () => {
      for (const body of [{ worker_id: 'w2' }, { workerId: 'w2' }]) {
        const reply = await api('DELETE', '/workspaces/w1', body);
        expect(reply.status).to.equal(400);
        expect(reply.body.field).to.equal(Object.keys(body)[0]);
      }
    });

    it('a query parameter for a field the path gives: 400 naming it', async () => {
      await seed('q1');
      const reply = await api('GET', '/tasks/q1?id=q2');
      expect(reply.status).to.equal(400);
      expect(reply.body).to.deep.include({ field: 'id' });
    });
  });

  describe('JSON decoding errors name the field', () => {
    const refusals: ReadonlyArray<readonly [string, string, unknown, string, RegExp]> = [
      [
        'POST',
        '/tasks',
        { id: 'p', priority: 'high' },
        'priority',
        /^priority must be a JSON number, not the string "high"$/,
      ],
      ['POST', '/tasks', { id: 5 }, 'id', /^id must be a string, not 5$/],
      ['POST', '/tasks', { id: 'p', deps: 'a' }, 'deps', /^deps must be a list, not the string "a"$/],
      ['POST', '/tasks', { id: 'p', deps: ['a', null] }, 'deps[1]', /^deps\[1\] must not be null$/],
      [
        'POST',
        '/tasks',
        { id: 'p', maxAttempts: -1 },
        'maxAttempts',
        /^maxAttempts must be from 0 to 4294967295, not -1$/,
      ],
      ['POST', '/tasks', { id: 'p', maxAttempts: 2.5 }, 'maxAttempts', /must be a whole number, not 2\.5$/],
      [
        'POST',
        '/tasks',
        { id: 'p', land: 'yes' },
        'land',
        /^land must be true or false, not the string "yes"$/,
      ],
      [
        'POST',
        '/tasks',
        { id: 'p', metadata: [1] },
        'metadata',
        /^metadata must be a JSON object, not a list$/,
      ],
      ['POST', '/tasks', { id: 'p', runAt: 'tomorrow' }, 'runAt', /^runAt must be an RFC 3339 time/],
      [
        'POST',
        '/tasks',
        { id: 'p', prio: 3 },
        'prio',
        /^prio is not a field of coord\.v1\.TaskSpec: key "prio" is unknown$/,
      ],
      [
        'POST',
        '/tasks',
        { id: 'p', max_attempts: 1, maxAttempts: 2 },
        'maxAttempts',
        /is the same field as max_attempts/,
      ],
      [
        'POST',
        '/tasks',
        { id: 'p', retryBackoff: { initialMs: 'soon' } },
        'retryBackoff.initialMs',
        /^retryBackoff\.initialMs must be a JSON number/,
      ],
      [
        'POST',
        '/tasks/batch',
        { tasks: [{ id: 'x' }, { id: 'y', priority: true }] },
        'tasks[1].priority',
        /^tasks\[1\]\.priority must be a number, not true$/,
      ],
      ['POST', '/tasks/batch', { tasks: { id: 'x' } }, 'tasks', /^tasks must be a list, not an object$/],
      [
        'POST',
        '/tasks/purge',
        { finishedBefore: 'yesterday' },
        'finishedBefore',
        /^finishedBefore must be an RFC 3339 time/,
      ],
      [
        'POST',
        '/tasks/purge',
        { finishedBefore: '2026-01-01T00:00:00Z', status: ['gone'] },
        'status[0]',
        /^status\[0\] must be one of unspecified, pending, /,
      ],
      ['GET', '/tasks?status=finished', undefined, 'status', /finished/],
      ['GET', '/tasks?limit=many', undefined, 'limit', /limit/],
    ];
    for (const [method, path, body, field, message] of refusals) {
      it(`${method} ${path} ${JSON.stringify(body) ?? ''}: 400 field ${field}`, async () => {
        const before = server.coordinator.taskQueue.size;
        const reply = await api(method, path, body);
        expect(reply.status, JSON.stringify(reply.body)).to.equal(400);
        expect(reply.body.code).to.equal('invalid_argument');
        expect(reply.body.field).to.equal(field);
        expect(reply.body.message).to.match(message);
        expect(server.coordinator.taskQueue.size).to.equal(before);
      });
    }

    it('takes what proto3 JSON allows: 64-bit integers as strings, enum words, canonical names and numbers', async () => {
      const words = await api('GET', '/tasks?status=pending&status=TASK_STATUS_CANCELLED');
      expect(words.status).to.equal(200);
      const purge = await api('POST', '/tasks/purge', {
        finishedBefore: '2026-01-01T00:00:00.5+01:00',
        status: ['failed', 'TASK_STATUS_CANCELLED', TaskStatus.COMPLETE],
      });
      expect(purge.status, JSON.stringify(purge.body)).to.equal(200);
    });
  });
});
