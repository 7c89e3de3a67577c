import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import type * as tls from 'node:tls';
import type { DestinationStream } from 'pino';
import { authLine, createToken, parseAuthFile, type TokenEntry } from '../../src/server/auth/tokens.js';
import { createLogger, type Logger } from '../../src/server/observability/logger.js';

/** One token of each role (two workers), and the entries a server is started with. */
export interface Fleet {
  readonly admin: string;
  readonly operator: string;
  readonly reader: string;
  readonly agent1: string;
  readonly agent2: string;
  readonly entries: TokenEntry[];
}

export function makeFleet(): Fleet {
  const admin = createToken();
  const operator = createToken();
  const reader = createToken();
  const agent1 = createToken();
  const agent2 = createToken();
  const file = [
    authLine(admin, 'admin'),
    authLine(operator, 'operator'),
    authLine(reader, 'reader'),
    authLine(agent1, 'worker', 'agent-1'),
    authLine(agent2, 'worker', 'agent-2'),
  ].join('\n');
  return { admin, operator, reader, agent1, agent2, entries: parseAuthFile(file, 'test') };
}

/** A logger at warn whose lines the test reads: refusals must be logged, each exactly once. */
export function collectingLogger(): { logger: Logger; refusals: () => string[] } {
  const lines: string[] = [];
  const destination: DestinationStream = {
    write(line: string) {
      lines.push(line);
    },
  };
  return {
    logger: createLogger({ level: 'warn', format: 'json', destination }),
    refusals: () =>
      lines
        .map((l) => JSON.parse(l) as { msg: string })
        .filter((l) => l.msg.startsWith('auth: refused'))
        .map((l) => l.msg),
  };
}

/** A self-signed certificate for 127.0.0.1 and localhost, made by the openssl CLI for this run. */
export function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-keyout', key, '-out', cert, '-subj', '/CN=baton-test'])
      .concat(['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

export const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** What an HTTPS GET got back. */
export interface HttpsAnswer {
  readonly status: number;
  /** The negotiated protocol (`false`: none offered). */
  readonly alpn: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** GET over HTTPS/1.1 trusting `ca`. */
export function httpsGet(
  url: string,
  ca: string,
  headers: Record<string, string> = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      const socket = response.socket as tls.TLSSocket;
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          alpn: String(socket.alpnProtocol),
          headers: response.headers,
          body,
        }),
      );
    });
    request.on('error', reject);
  });
}
