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
