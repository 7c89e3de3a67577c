import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createAdminClient } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

describe('Input limits on the wire', () => {
  let server: BatonServer;
  before(async () => {
    server = await startServer({ port: 0, limits: { maxBatchTasks: 2, maxMetadataDepth: 2 } });
  });
  after(() => server.close());

  it('answer a batch over --max-batch-tasks with INVALID_ARGUMENT naming the limit, on gRPC and REST', async () => {
    const admin = createAdminClient({ url: server.url, protocol: 'grpc' });
    const error = await admin
      .addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }])
      .catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).to.equal(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).to.equal(
      'a batch of 3 tasks: over the limit --max-batch-tasks (2)',
    );
    const response = await fetch(`${server.url}/api/coordination/tasks/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] }),
    });
    expect(response.status).to.equal(400);
    expect(await response.json()).to.deep.include({
      code: 'invalid_argument',
      field: 'tasks',
      data: { limit: 'max-batch-tasks', value: 2 },
    });
    expect(server.coordinator.taskQueue.size).to.equal(0);
  });

  it('answer metadata nested past --max-metadata-depth with the field at fault', async () => {
    const response = await fetch(`${server.url}/api/coordination/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'deep', metadata: { a: { b: { c: 1 } } } }),
    });
    expect(response.status).to.equal(400);
    const body = (await response.json()) as { message: string; field: string };
    expect(body.message).to.equal('metadata nests more than 2 deep: over the limit --max-metadata-depth (2)');
    expect(server.coordinator.taskQueue.size).to.equal(0);
  });
});
