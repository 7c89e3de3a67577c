import type * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** A bench's own HTTP/2 server, listening on a free loopback port. */
export interface LoopbackServer {
  readonly url: string;
  /** Stops listening after ending every session: `close` lets streams finish, `destroy` does not. */
  close(): Promise<void>;
}

export async function listenOnLoopback(
  server: http2.Http2Server,
  endSessions: 'close' | 'destroy',
): Promise<LoopbackServer> {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sessions) s[endSessions]();
        server.close(() => resolve());
      }),
  };
}
