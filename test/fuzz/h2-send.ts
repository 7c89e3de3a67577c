import * as http2 from 'node:http2';

/** What came back on one HTTP/2 stream: headers, trailers and the body, whatever the protocol. */
export interface H2Reply {
  readonly status: number;
  /** Headers and trailers together (a trailers-only gRPC answer has only headers). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The stream was reset or the session failed: the server gave no answer. */
  readonly reset?: string;
}

/** One HTTP/2 connection for a run: raw streams with any headers and bytes, as a gRPC client would send them. */
export interface H2Client {
  send(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<H2Reply>;
  close(): void;
}

export function connectH2(baseUrl: string): H2Client {
  let session: http2.ClientHttp2Session | undefined;
  const open = (): http2.ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      session = http2.connect(baseUrl);
      session.on('error', () => {});
    }
    return session;
  };
  return {
    send(headers, body) {
      return new Promise((resolve) => {
        const stream = open().request({ ':method': 'POST', ...headers });
        const all: Record<string, string> = {};
        const keep = (h: http2.IncomingHttpHeaders) => {
          for (const [k, v] of Object.entries(h)) if (v !== undefined) all[k] = String(v);
        };
        let status = 0;
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          status = Number(h[':status']);
          keep(h);
        });
        stream.on('trailers', keep);
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', () => {});
        stream.on('close', () => {
          const code = stream.rstCode;
          resolve({
            status,
            headers: all,
            body: Buffer.concat(chunks),
            ...(status === 0 ? { reset: `stream closed with code ${code}` } : {}),
          });
        });
        stream.end(body);
      });
    },
    close() {
      session?.close();
    },
  };
}
