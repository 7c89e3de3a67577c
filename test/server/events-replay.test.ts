import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { batonErrorDetail, createAdminClient } from '../../src/client/index.js';
import { CoordinatorService, ErrorCode, ErrorSchema } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

const WINDOW = 5;

const PATHS: ReadonlyArray<readonly [string, (baseUrl: string) => Transport]> = [
  ['gRPC', (baseUrl) => createGrpcTransport({ baseUrl })],
  ['Connect binary HTTP/2', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '2' })],
  [
    'Connect JSON HTTP/1.1',
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false }),
  ],
];

describe('Events replay window: --events-replay, and resume points it no longer has', () => {
  let server: BatonServer;
  let last: number;
  before(async () => {
    server = await startServer({ port: 0, store: 'memory', eventsReplay: WINDOW });
    const client = createClient(
      CoordinatorService,
      createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }),
    );
    for (let i = 0; i < 10; i++) await client.addTask({ task: { id: `t${i}` } });
    // The last sequence: the newest of the kept events, replayed from 0.
    for await (const { events } of client.watchEvents({ sinceSequence: 0n })) {
      expect(events).to.have.length(WINDOW);
      last = Number(events.at(-1)?.sequence);
      break;
    }
  });
  after(() => server.close());

  const oldest = () => last - WINDOW + 1;
  const olderMessage = (since: number) =>
    `since_sequence ${since} is older than the events replay window (--events-replay ${WINDOW}; ` +
    `oldest kept is ${oldest()}): ${oldest() - since - 1} event(s) after it are no longer kept; ` +
    'read the state again and watch from now';

  /** The first answer of a watch: its events, or the error that ended it. */
  const firstAnswer = async (transport: Transport, sinceSequence: bigint) => {
    const client = createClient(CoordinatorService, transport);
    const abort = new AbortController();
    try {
      for await (const { events } of client.watchEvents({ sinceSequence }, { signal: abort.signal }))
        return events.map((e) => Number(e.sequence));
      return [];
    } catch (error) {
      return ConnectError.from(error);
    } finally {
      abort.abort();
    }
  };

  for (const [name, transport] of PATHS) {
    it(`${name}: fails OUT_OF_RANGE for a since_sequence older than the window, naming the limit`, async () => {
      const answer = await firstAnswer(transport(server.url), 2n);
      expect(answer).to.be.instanceOf(ConnectError);
      const error = answer as ConnectError;
      expect(error.code).to.equal(Code.OutOfRange);
      expect(error.rawMessage).to.equal(olderMessage(2));
      const [detail] = error.findDetails(ErrorSchema);
      expect(detail?.code).to.equal(ErrorCode.OUT_OF_RANGE);
      expect(detail?.field).to.equal('since_sequence');
      expect(detail?.data).to.deep.equal({
        limit: 'events-replay',
        value: WINDOW,
        oldest: oldest(),
        last,
        missed: oldest() - 3,
      });
    });

    it(`${name}: fails OUT_OF_RANGE for a since_sequence past the last event, and replays within the window`, async () => {
      const ahead = (await firstAnswer(transport(server.url), BigInt(last + 10))) as ConnectError;
      expect(ahead.code).to.equal(Code.OutOfRange);
      expect(ahead.rawMessage).to.match(
        new RegExp(`^since_sequence ${last + 10} is past this server's last event \\(${last}\\)`),
      );
      expect(await firstAnswer(transport(server.url), BigInt(oldest() - 1))).to.deep.equal(
        Array.from({ length: WINDOW }, (_, i) => oldest() + i),
      );
    });
  }

  it("the SDK's admin.watch() throws OUT_OF_RANGE for the caller to re-read, with the limit in the detail", async () => {
    const admin = createAdminClient({ url: server.url });
    const error = await (async () => {
      for await (const _ of admin.watch({ sinceSequence: 1 })) return undefined;
      return undefined;
    })().catch((e: unknown) => ConnectError.from(e));
    expect(error?.code).to.equal(Code.OutOfRange);
    expect(error?.rawMessage).to.equal(olderMessage(1));
    expect(batonErrorDetail(error)?.data).to.deep.include({ limit: 'events-replay', last });
  });

  it('SSE: answers 410 Gone with the message, the field and the data, for ?since_sequence and Last-Event-ID', async () => {
    const expected = (since: number) => ({
      code: 'out_of_range',
      message: olderMessage(since),
      field: 'since_sequence',
      data: { limit: 'events-replay', value: WINDOW, oldest: oldest(), last, missed: oldest() - since - 1 },
    });
    const byQuery = await fetch(`${server.url}/api/coordination/events?since_sequence=1`);
    expect(byQuery.status).to.equal(410);
    expect(byQuery.headers.get('content-type')).to.match(/^application\/json/);
    expect(await byQuery.json()).to.deep.equal(expected(1));
    // An EventSource reconnecting sends Last-Event-ID; a 410 makes it stop rather than skip events.
    const byHeader = await fetch(`${server.url}/api/coordination/events`, {
      headers: { 'last-event-id': '3' },
    });
    expect(byHeader.status).to.equal(410);
    expect(await byHeader.json()).to.deep.equal(expected(3));
    const ahead = await fetch(`${server.url}/api/coordination/events?since_sequence=${last + 1}`);
    expect(ahead.status).to.equal(410);
    expect(((await ahead.json()) as { data: unknown }).data).to.deep.equal({ last });
  });

  it('SSE: resumes as before within the window', async () => {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/api/coordination/events?since_sequence=${last - 1}`, {
      signal: abort.signal,
    });
    expect(response.status).to.equal(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes(`id: ${last}\n`)) text += Buffer.from((await reader.read()).value ?? []).toString();
    abort.abort();
    await reader.cancel().catch(() => {});
    expect(text).to.include(`id: ${last}\nevent: coord:task-added\n`);
    expect(text).not.to.include(`id: ${last - 1}\n`);
  });

  it('keeps 10,000 events by default', async () => {
    const other = await startServer({ port: 0, store: 'memory' });
    try {
      const client = createClient(
        CoordinatorService,
        createConnectTransport({ baseUrl: other.url, httpVersion: '1.1' }),
      );
      for (const batch of [0, 1])
        await client.batchAddTasks({
          tasks: Array.from({ length: 6_000 }, (_, i) => ({ id: `b${batch}-${i}` })),
        });
      for await (const { events } of client.watchEvents({ sinceSequence: 0n })) {
        expect(events).to.have.length(10_000);
        expect(Number(events.at(-1)?.sequence) - Number(events[0]?.sequence)).to.equal(9_999);
        expect(events.at(-1)?.payload.value).to.have.property('id', 'b1-5999');
        break;
      }
    } finally {
      await other.close();
    }
  });
});
