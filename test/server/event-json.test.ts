import { expect } from 'chai';
import { createAdminClient, createWorker, type Event } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

/** Reads a streamed body, handing each chunk's text to `parse`, until `parse` says it has all. */
async function readUntil(response: Response, parse: (bytes: Buffer) => Json[] | undefined): Promise<Json[]> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let bytes = Buffer.alloc(0);
  try {
    const deadline = Date.now() + 3000;
    for (;;) {
      const found = parse(bytes);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error('the events did not come within 3 s');
      const chunk = await reader.read();
      if (chunk.done) throw new Error('the stream ended');
      bytes = Buffer.concat([bytes, chunk.value]);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The events of an SSE body so far, if one of them is `last`. */
const sseEvents =
  (last: string) =>
  (bytes: Buffer): Json[] | undefined => {
    const events = bytes
      .toString()
      .split('\n\n')
      .flatMap((frame) => frame.split('\n').filter((l) => l.startsWith('data: ')))
      .map((line) => JSON.parse(line.slice('data: '.length)));
    return events.some((e) => e.kind === last) ? events : undefined;
  };

/** The events of a Connect streaming JSON body so far (5-byte envelopes), if one of them is `last`. */
const connectEvents =
  (last: string) =>
  (bytes: Buffer): Json[] | undefined => {
    const events: Json[] = [];
    for (let at = 0; at + 5 <= bytes.length; ) {
      const size = bytes.readUInt32BE(at + 1);
      if (at + 5 + size > bytes.length) break;
      const message = JSON.parse(bytes.subarray(at + 5, at + 5 + size).toString());
      events.push(...(message.events ?? []));
      at += 5 + size;
    }
    return events.some((e) => e.kind === last) ? events : undefined;
  };

describe('Events and JSON answers as a reader sees them', () => {
  let server: BatonServer;
  let sse: Json[];
  let connect: Json[];

  before(async () => {
    server = await startServer({ port: 0 });
    const c = server.coordinator;
    c.workerJoined({ id: 'w-json', maxConcurrency: 3, labels: { zone: 'eu' } });
    c.addTask({ id: 'only' });
    c.cancelTask('only');
    const events = await fetch(`${server.url}/api/coordination/events?since_sequence=0`);
    sse = await readUntil(events, sseEvents('all-settled'));
    const stream = await fetch(`${server.url}/coord.v1.CoordinatorService/WatchEvents`, {
      method: 'POST',
      headers: { 'content-type': 'application/connect+json' },
      body: (() => {
        const json = Buffer.from(JSON.stringify({ sinceSequence: '0' }));
        const head = Buffer.from([0, 0, 0, 0, 0]);
        head.writeUInt32BE(json.length, 1);
        return Buffer.concat([head, json]);
      })(),
    });
    connect = await readUntil(stream, connectEvents('EVENT_KIND_ALL_SETTLED'));
  });
  after(async () => {
    await server.close();
  });

  it('a task event carries the task itself, not {"task": {"task": ...}}, on REST and Connect JSON', () => {
    for (const events of [sse, connect]) {
      const added = events.find((e) => /TASK_ADDED|task-added/.test(e.kind));
      expect(added.task.id).to.equal('only');
      expect(added.task).to.not.have.property('task');
      const cancelled = events.find((e) => /TASK_CANCELLED|task-cancelled/.test(e.kind));
      expect(cancelled.reason).to.equal('cancelled by an operator');
    }
  });

  it('worker-joined carries the real maxConcurrency and labels', () => {
    for (const events of [sse, connect]) {
      const joined = events.find((e) => /WORKER_JOINED|worker-joined/.test(e.kind));
      expect(joined.workerJoined).to.deep.include({
        workerId: 'w-json',
        maxConcurrency: 3,
        labels: { zone: 'eu' },
      });
    }
  });

  it('an all-cancelled graph is all-settled with every count, zeros too, and never all-complete', () => {
    for (const events of [sse, connect]) {
      const settled = events.find((e) => /ALL_SETTLED|all-settled/.test(e.kind));
      expect(settled.allComplete).to.deep.equal({ complete: 0, failed: 0, cancelled: 1 });
      expect(events.some((e) => /ALL_COMPLETE|all-complete/.test(e.kind))).to.equal(false);
    }
  });

  it('Connect JSON unary answers carry zero values, as REST does', async () => {
    const connectReply = await fetch(`${server.url}/coord.v1.CoordinatorService/GetProgress`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const { progress } = (await connectReply.json()) as Json;
    const rest = (await (await fetch(`${server.url}/api/coordination/progress`)).json()) as Json;
    expect(progress).to.include({ complete: 0, failed: 0, pending: 0, cancelled: 1 });
    expect(Object.keys(progress).sort()).to.deep.equal(Object.keys(rest).sort());
  });
});

describe('worker-joined from a real session', () => {
  it('carries the maxConcurrency and labels of the Hello a worker SDK sent, as /status shows them', async () => {
    const server = await startServer({ port: 0 });
    const worker = createWorker({
      url: server.url,
      id: 'w-real',
      capabilities: ['llm'],
      maxConcurrency: 3,
      labels: { zone: 'eu', model: 'big' },
      handler() {},
    });
    const watching = new AbortController();
    try {
      const admin = createAdminClient({ url: server.url });
      const joined = (async (): Promise<Event> => {
        for await (const e of admin.watch({ kinds: ['coord:worker-joined'], signal: watching.signal }))
          return e;
        throw new Error('the event stream ended');
      })();
      // Replayed from the start (since_sequence 0), so the join is seen however late the watch opens.
      await worker.start();
      const event = await joined;
      expect(event.payload.case).to.equal('workerJoined');
      const payload = event.payload.value as { maxConcurrency: number; labels: Record<string, string> };
      expect(payload).to.deep.include({ workerId: 'w-real', capabilities: ['llm'], maxConcurrency: 3 });
      expect(payload.labels).to.deep.equal({ zone: 'eu', model: 'big' });
      const status = (await admin.status()).workers.find((w) => w.workerId === 'w-real');
      expect(status).to.deep.include({ maxConcurrency: 3, labels: { zone: 'eu', model: 'big' } });
    } finally {
      watching.abort();
      await worker.stop();
      await server.close();
    }
  });
});
