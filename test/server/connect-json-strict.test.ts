import { expect } from 'chai';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { postJson, rest } from '../support/json-http.js';

// Found by the fuzz suite (test/fuzz): Connect JSON ignored what it did not know, as connect does
// by default, so a typo changed what a request meant instead of failing it.
describe('Connect JSON reads requests strictly, as REST does', () => {
  let server: BatonServer;
  const rpc = (method: string, body: string) =>
    postJson(server.url, `/coord.v1.CoordinatorService/${method}`, body);

  beforeEach(async () => {
    server = await startServer({ port: 0 });
  });
  afterEach(async () => {
    await server.close();
  });

  it('refuses an unknown key, naming it, rather than adding a task without its deps', async () => {
    await rpc('AddTask', '{"task":{"id":"b"}}');
    const reply = await rpc('AddTask', '{"task":{"id":"a","dpes":["b"]}}');
    expect(reply.status).to.equal(400);
    expect(reply.body.code).to.equal('invalid_argument');
    expect(reply.body.message).to.contain('"dpes" is unknown');
    expect((await rest(server.url, '/tasks')).tasks.map((t: { id: string }) => t.id)).to.deep.equal(['b']);
  });

  it('refuses an unknown status name in a purge, rather than purging every settled task', async () => {
    await rpc('BatchAddTasks', '{"tasks":[{"id":"a"},{"id":"b"}]}');
    await rpc('CancelTask', '{"id":"a"}');
    const reply = await rpc(
      'PurgeTasks',
      '{"finishedBefore":"2100-01-01T00:00:00Z","status":["TASK_STATUS_COMPLETED"]}',
    );
    expect(reply.status).to.equal(400);
    expect(reply.body.message).to.contain('TASK_STATUS_COMPLETED');
    expect((await rest(server.url, '/progress')).total).to.equal(2);
  });
});
