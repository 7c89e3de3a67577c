import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { CoordinatorService, type TaskStatus } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { postJson } from '../support/json-http.js';
import { rejection } from '../support/rejection.js';

// Found by the fuzz suite (test/fuzz): an unknown status in a filter was dropped, which widened
// the filter to every status, so that a purge of "status 99" deleted every settled task.
describe('Status filters with a value that is no task status', () => {
  let server: BatonServer;
  let client: ReturnType<typeof createClient<typeof CoordinatorService>>;
  const UNKNOWN = 99 as TaskStatus;

  beforeEach(async () => {
    server = await startServer({ port: 0 });
    client = createClient(CoordinatorService, createGrpcTransport({ baseUrl: server.url }));
    await client.batchAddTasks({ tasks: [{ id: 'a' }, { id: 'b' }] });
    await client.cancelTask({ id: 'a' });
  });
  afterEach(async () => {
    await server.close();
  });

  it('PurgeTasks refuses it with INVALID_ARGUMENT naming status[i], and purges nothing', async () => {
    const error = await rejection(
      client.purgeTasks({ finishedBefore: { seconds: 4_102_444_800n }, status: [4, UNKNOWN] }),
    );
    expect(error.code).to.equal(Code.InvalidArgument);
    expect(error.rawMessage).to.equal('status[1] is not a task status (99)');
    const rest = await postJson(
      server.url,
      '/api/coordination/tasks/purge',
      '{"finishedBefore":"2100-01-01T00:00:00Z","status":[99]}',
    );
    expect(rest.status).to.equal(400);
    expect(rest.body.field).to.equal('status[0]');
    expect((await client.listTasks({})).tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
  });

  it('ListTasks refuses it rather than listing every task', async () => {
    const error = await rejection(client.listTasks({ status: [UNKNOWN] }));
    expect(error.code).to.equal(Code.InvalidArgument);
    expect(error.rawMessage).to.equal('status[0] is not a task status (99)');
    // Unspecified still means "no filter".
    expect((await client.listTasks({ status: [0 as TaskStatus] })).totalSize).to.equal(2);
  });
});
