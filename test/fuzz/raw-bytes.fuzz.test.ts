import * as net from 'node:net';
import * as fc from 'fast-check';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { labelled } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import type { LiveServer } from './live-server.js';
import { expectUnchanged } from './state-snapshot.js';

const settings = fuzzSettings(20);
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** One HTTP/2 frame with any header fields: a length that may lie, any type, flags and stream. */
const frameArb = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 255 })),
    flags: fc.integer({ min: 0, max: 255 }),
    stream: fc.oneof(fc.constantFrom(0, 1, 3, 2 ** 31 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    payload: fc.uint8Array({ maxLength: 64 }),
    lie: fc.option(fc.integer({ min: 0, max: 2 ** 24 - 1 }), { freq: 4 }),
  })
  .map(({ type, flags, stream, payload, lie }) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(lie ?? payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream >>> 0, 5);
    return Buffer.concat([head, payload]);
  });

/** What a broken or hostile client writes on a fresh connection. */
const connectionArb: fc.Arbitrary<{ label: string; bytes: Buffer }> = fc
  .oneof(
    fc.array(frameArb, { minLength: 1, maxLength: 6 }).map((frames) => ({
      label: `the HTTP/2 preface and ${frames.length} forged frames`,
      bytes: Buffer.concat([PREFACE, ...frames]),
    })),
    fc.integer({ min: 1, max: PREFACE.length - 1 }).map((n) => ({
      label: `${n} bytes of the preface, then garbage`,
      bytes: Buffer.concat([PREFACE.subarray(0, n), Buffer.from('garbage\r\n\r\n')]),
    })),
    fc.uint8Array({ minLength: 1, maxLength: 256 }).map((bytes) => ({
      label: `${bytes.length} random bytes`,
      bytes: Buffer.from(bytes),
    })),
    fc
      .constantFrom(
        'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        'POST /api/coordination/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
        'POST /api/coordination/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"id"',
        'GET /api/coordination/tasks/%00 HTTP/1.1\r\nHost: x\r\n\r\n',
        `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        'GET / HTTP/1.1\r\nX: \u0000\r\n\r\n',
        'POST /coord.v1.CoordinatorService/AddTask HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nContent-Length: 3\r\n\r\n\u0000\u0000\u0000',
        'GET / HTTP/9.9\r\n\r\n',
        '\r\n\r\n\r\n',
      )
      .map((text) => ({
        label: `HTTP/1.1: ${JSON.stringify(text.slice(0, 60))}`,
        bytes: Buffer.from(text, 'latin1'),
      })),
  )
  .map(labelled);

/** Writes the bytes on a new connection and waits until the server closes it or goes quiet. */
function writeRaw(live: LiveServer, bytes: Buffer): Promise<void> {
  const url = new URL(live.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.end(bytes));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 300);
    socket.on('data', () => {});
    socket.on('error', done);
    socket.on('close', done);
  });
}

describe('Fuzz: raw bytes on the one port', function () {
  fuzzTimeout(this, settings);

  it('survives forged HTTP/2 frames, broken prefaces and malformed HTTP/1.1: the server stays up and the state is untouched', () =>
    assertOnLiveServers(settings, connectionArb, async (live, connections) => {
      const before = await live.read();
      for (const c of connections) {
        await writeRaw(live, c.bytes);
        await live.expectHealthy(c.label);
      }
      expectUnchanged(before, await live.read(), 'after the forged connections');
    }));
});
