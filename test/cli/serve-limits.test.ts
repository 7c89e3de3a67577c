import * as net from 'node:net';
import { expect } from 'chai';
import { type ServerProcess, startCli } from '../durability/harness.js';

describe('baton serve: the limit flags reach the server', function () {
  this.timeout(30_000);
  let proc: ServerProcess;
  let url: string;
  before(async () => {
    proc = await startCli([
      '--store=memory',
      '--port=0',
      '--max-id-length=5',
      '--max-category-length=3',
      '--max-request-bytes=2000',
      '--header-timeout-ms=300',
      '--idle-timeout-ms=60000',
      '--max-streams=50',
      '--events-replay=3',
    ]);
    url = /listening on (\S+)/.exec(proc.output())?.[1] as string;
  });
  after(() => proc.kill('SIGTERM'));

  const post = (body: unknown) =>
    fetch(`${url}/api/coordination/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('--max-id-length and --max-category-length refuse naming the field and the flag', async () => {
    const id = await post({ id: 'toolong' });
    expect(id.status).to.equal(400);
    expect(await id.json()).to.deep.include({
      field: 'id',
      message: 'id is 7 characters: over the limit --max-id-length (5)',
      data: { limit: 'max-id-length', value: 5 },
    });
    const category = await post({ id: 'ok', category: 'long' });
    expect(await category.json()).to.deep.include({
      field: 'category',
      data: { limit: 'max-category-length', value: 3 },
    });
    expect((await post({ id: 'ok', category: 'abc' })).status).to.equal(200);
  });

  it('--max-request-bytes answers a larger body 413', async () => {
    const response = await post({ id: 'big', metadata: { text: 'x'.repeat(3000) } });
    expect(response.status).to.equal(413);
    expect(((await response.json()) as { message: string }).message).to.include('--max-request-bytes (2000)');
  });

  it('--header-timeout-ms closes a connection that says nothing', async () => {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - started).to.be.below(3_000);
  });

  it('--events-replay refuses a resume point older than its window with 410', async () => {
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) expect((await post({ id })).status).to.equal(200);
    const response = await fetch(`${url}/api/coordination/events?since_sequence=1`);
    expect(response.status).to.equal(410);
    expect(await response.json())
      .to.deep.include({
        code: 'out_of_range',
        field: 'since_sequence',
      })
      .and.to.have.nested.property('data.limit', 'events-replay');
  });
});
