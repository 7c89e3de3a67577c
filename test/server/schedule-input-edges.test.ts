import { expect } from 'chai';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { postJson } from '../support/json-http.js';

/** runAt, delayMs and retryBackoff on both JSON doors: bad values name the field and change nothing. */
describe('Input edges of scheduling and retry backoff', () => {
  let server: BatonServer;
  const taskCount = () => server.coordinator.taskQueue.getProgress().total;
  const post = (path: string, body: string) => postJson(server.url, path, body);

  before(async () => {
    server = await startServer({ port: 0 });
  });
  after(async () => {
    await server.close();
  });

  /** [task JSON, the field named for a single task] */
  const bad: [string, string][] = [
    ['{"id":"x","delayMs":-1}', 'delayMs'],
    ['{"id":"x","delayMs":1.5}', 'delayMs'],
    ['{"id":"x","runAt":"1969-12-31T23:59:59Z"}', 'runAt'],
    ['{"id":"x","runAt":"2030-01-01T00:00:00Z","delayMs":5}', 'delayMs'],
    ['{"id":"x","retryBackoff":{"initialMs":-1}}', 'retryBackoff.initialMs'],
    ['{"id":"x","retryBackoff":{"initialMs":0.5}}', 'retryBackoff.initialMs'],
    ['{"id":"x","retryBackoff":{"maxMs":1e20}}', 'retryBackoff.maxMs'],
    ['{"id":"x","retryBackoff":{"multiplier":0.5}}', 'retryBackoff.multiplier'],
    ['{"id":"x","retryBackoff":{"initialMs":500,"maxMs":100}}', 'retryBackoff.maxMs'],
  ];

  it('REST refuses each with 400 naming the field, in a single task and in a batch', async () => {
    for (const [task, field] of bad) {
      const one = await post('/api/coordination/tasks', task);
      expect(one.status, task).to.equal(400);
      expect(one.body.field, task).to.equal(field);
      expect(one.body.code, task).to.equal('invalid_argument');
      const batch = await post('/api/coordination/tasks/batch', `{"tasks":[{"id":"fine"},${task}]}`);
      expect(batch.status, task).to.equal(400);
      expect(batch.body.field, task).to.equal(`tasks[1].${field}`);
    }
    // A quoted number never reaches the core: the gateway names the field.
    const quoted = await post('/api/coordination/tasks', '{"id":"x","retryBackoff":{"initialMs":"5"}}');
    expect(quoted.status).to.equal(400);
    expect(quoted.body.field).to.equal('retryBackoff.initialMs');
    expect(taskCount()).to.equal(0);
  });

  it('Connect JSON refuses each with invalid_argument and the field in the error detail', async () => {
    for (const [task, field] of bad) {
      const reply = await post('/coord.v1.CoordinatorService/AddTask', `{"task":${task}}`);
      expect(reply.status, task).to.equal(400);
      expect(reply.body.code, task).to.equal('invalid_argument');
      expect(reply.body.details[0].debug.field, task).to.equal(field);
    }
    expect(taskCount()).to.equal(0);
  });

  it('accepts good values on both doors and shows them back', async () => {
    const rest = await post(
      '/api/coordination/tasks',
      '{"id":"r","delayMs":60000,"retryBackoff":{"initialMs":0,"multiplier":1}}',
    );
    expect(rest.status).to.equal(200);
    expect(rest.body.retryBackoff).to.deep.equal({ initialMs: 0, maxMs: 60000, multiplier: 1 });
    expect(Date.parse(rest.body.notBefore) - Date.parse(rest.body.createdAt)).to.equal(60_000);
    const connect = await post(
      '/coord.v1.CoordinatorService/AddTask',
      '{"task":{"id":"c","runAt":"2030-01-01T00:00:00Z"}}',
    );
    expect(connect.status).to.equal(200);
    expect(connect.body.task.notBefore).to.equal('2030-01-01T00:00:00Z');
    expect(connect.body.task.waitingFor).to.equal('scheduled: not before 2030-01-01T00:00:00.000Z');
    expect(taskCount()).to.equal(2);
  });
});
