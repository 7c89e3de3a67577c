import { expect } from 'chai';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import type { Store } from '../../src/core/store.js';
import { createLogger } from '../../src/server/observability/logger.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

type Line = Record<string, unknown> & { level: number; msg: string };

/** A pino destination that keeps each JSON line, parsed. */
function capture(): { lines: Line[]; write(chunk: string): void } {
  const lines: Line[] = [];
  return { lines, write: (chunk) => lines.push(JSON.parse(chunk) as Line) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Server logs', () => {
  let server: BatonServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('are JSON lines with the fields of what happened: listening, workers, failed tasks, requests, close', async () => {
    const sink = capture();
    server = await startServer({ port: 0, logger: createLogger({ level: 'debug', destination: sink }) });
    const admin = createAdminClient({ url: server.url });
    await admin.addTask({ id: 'lint', maxAttempts: 1 });
    const worker = createWorker({
      url: server.url,
      id: 'w1',
      maxConcurrency: 1,
      handler: async () => {
        throw new Error('lint found 3 problems');
      },
    });
    await worker.start();
    while ((await admin.progress()).failed < 1) await sleep(10);
    await worker.stop();
    const url = server.url;
    await server.close();
    server = undefined;

    const find = (msg: string) => sink.lines.find((l) => l.msg === msg);
    expect(find('listening')).to.include({ level: 30, name: 'baton', url, store: 'memory' });
    expect(find('coordinator running')).to.include({ event: 'coord:started' });
    expect(find('worker joined')).to.include({ workerId: 'w1', maxConcurrency: 1 });
    expect(find('task failed')).to.include({
      level: 40,
      taskId: 'lint',
      workerId: 'w1',
      attempt: 1,
      error: 'lint found 3 problems',
    });
    expect(find('task assigned')).to.include({ level: 20, taskId: 'lint', workerId: 'w1' });
    expect(find('worker left')).to.include({ workerId: 'w1' });
    const add = sink.lines.find(
      (l) => l.msg === 'request' && l.path === '/coord.v1.CoordinatorService/AddTask',
    );
    expect(add).to.include({ level: 20, method: 'POST', status: 200 });
    expect(add?.ms).to.be.a('number');
    expect(find('closed')).to.include({ url });
    for (const line of sink.lines) expect(line.time).to.be.a('number');
  });

  it('log an error once, with its message and stack, when the store cannot write', async () => {
    const sink = capture();
    const broken: Store = {
      kind: 'broken',
      load: () => undefined,
      commit: () => {
        throw new Error('disk full');
      },
      close: () => {},
    };
    server = await startServer({ port: 0, store: broken, logger: createLogger({ destination: sink }) });
    while (!sink.lines.some((l) => l.level === 50)) await sleep(5);
    const errors = sink.lines.filter((l) => l.level === 50);
    expect(errors).to.have.length(1);
    const [error] = errors as [Line];
    expect(error.msg).to.match(/store commit failed/);
    expect(error.err).to.deep.include({ message: 'disk full', type: 'Error' });
    expect((error.err as { stack: string }).stack).to.contain('disk full');
  });

  it('say nothing below the level asked for', async () => {
    const sink = capture();
    server = await startServer({ port: 0, logger: createLogger({ level: 'warn', destination: sink }) });
    await createAdminClient({ url: server.url }).addTask({ id: 'a' });
    expect(sink.lines).to.deep.equal([]);
  });
});
