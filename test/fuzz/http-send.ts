import * as http from 'node:http';
import { expect } from 'chai';
import { expectHttpStatus, expectNoLeak } from './answer-checks.js';
import type { Answer, FuzzCase } from './fuzz-run.js';
import type { LiveServer } from './live-server.js';
import type { Lifecycle } from './task-model.js';

/** An HTTP/1.1 request as curl would send it. */
export interface HttpRequest {
  readonly method: string;
  /** Path and query, percent-encoded. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface HttpCase extends FuzzCase {
  readonly request: HttpRequest;
}

export interface HttpReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** Sends a request byte for byte as given (any method, path, body), as curl would: no normalizing. */
export function sendHttp(baseUrl: string, request: HttpRequest): Promise<HttpReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, ...(body === undefined ? {} : { 'content-length': body.length }) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Error codes of JSON refusals (REST and Connect write the same words) that only server faults may carry. */
const SERVER_FAULT_CODES: readonly string[] = ['internal', 'unknown', 'data_loss'];

/**
 * Sends a JSON case (REST or Connect) and checks its answer: no 5xx but 503 while stopped, no
 * leak, and a refusal that is JSON with a code a client mistake may get and a message saying why.
 */
export async function sendJsonCase(live: LiveServer, c: HttpCase, state: Lifecycle): Promise<Answer> {
  const reply = await sendHttp(live.url, c.request);
  const summary = `${reply.status} ${reply.text.slice(0, 300)}`;
  const what = `${c.label}: ${c.request.method} ${c.request.path.slice(0, 80)} → ${summary}`;
  expectNoLeak(reply.text, what);
  const accepted = reply.status >= 200 && reply.status < 300;
  // connect-node refuses a wrong method or content type at the HTTP level: the status says why.
  const bare = c.request.method === 'HEAD' || (reply.text === '' && [405, 415].includes(reply.status));
  const body = (accepted || bare ? {} : JSON.parse(reply.text)) as { code?: unknown; message?: unknown };
  expectHttpStatus(reply.status, state, what, body.code);
  if (!accepted && !bare) {
    expect(body.message, `${what}: a refusal says why`).to.be.a('string').and.not.equal('');
    expect(body.code, `${what}: a refusal's code`).to.be.a('string').and.not.be.oneOf(SERVER_FAULT_CODES);
  }
  return { accepted, summary };
}
