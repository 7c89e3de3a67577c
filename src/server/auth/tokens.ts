// auth/: who may call what: tokens, roles, and the one table of roles by route.
// Imports nothing of Baton's but auth/ itself (test/architecture/walls.test.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isRole, type Principal, ROLES, type Role } from './policy.js';

/** One line of an auth file: a token's hash, its role and, for a worker token, its worker id. */
export interface TokenEntry {
  /** sha256 of the token, 32 bytes. */
  readonly hash: Buffer;
  readonly role: Role;
  readonly workerId?: string;
}

const PREFIX = 'baton_';
const HASH = /^sha256:([0-9a-f]{64})$/;

/**
 * A new token: 32 random bytes (256 bits), so a plain sha256 is enough to store it: a slow hash
 * (scrypt) protects guessable passwords, and nobody guesses 256 random bits.
 */
export const createToken = (): string => `${PREFIX}${randomBytes(32).toString('base64url')}`;

export const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** The auth file line for a token: `<role> sha256:<hex> [<worker id>]`. */
export function authLine(token: string, role: Role, workerId?: string): string {
  if (role === 'worker' && (workerId === undefined || workerId === ''))
    throw new Error('a worker token needs a worker id (--worker ID)');
  if (role !== 'worker' && workerId !== undefined)
    throw new Error(`--worker is only for worker tokens, not ${role}`);
  if (workerId !== undefined && /\s/.test(workerId))
    throw new Error(
      `worker id ${JSON.stringify(workerId)} has whitespace, which an auth file line cannot hold`,
    );
  const hash = `sha256:${hashToken(token).toString('hex')}`;
  return workerId === undefined ? `${role} ${hash}` : `${role} ${hash} ${workerId}`;
}

/**
 * Reads an auth file: one token a line, `<role> sha256:<hex> [<worker id>]`, `#` starts a comment.
 * Every fault names the line, so a bad file stops the server before it serves anyone.
 */
export function parseAuthFile(text: string, source: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${source}:${i + 1}`;
    const [role = '', hash = '', workerId, ...rest] = line.split(/\s+/);
    if (!isRole(role))
      throw new Error(`${where}: role ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`);
    const hex = HASH.exec(hash)?.[1];
    if (hex === undefined)
      throw new Error(`${where}: expected sha256:<64 hex digits>, got ${JSON.stringify(hash)}`);
    if (rest.length > 0) throw new Error(`${where}: unexpected ${JSON.stringify(rest.join(' '))}`);
    if (role === 'worker' && workerId === undefined)
      throw new Error(`${where}: a worker token needs a worker id`);
    if (role !== 'worker' && workerId !== undefined)
      throw new Error(`${where}: only worker tokens name a worker id (${role} ${workerId})`);
    entries.push({ hash: Buffer.from(hex, 'hex'), role, ...(workerId === undefined ? {} : { workerId }) });
  }
  return entries;
}

/** The token of an `authorization: Bearer <token>` header; undefined when there is none. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

export type Verifier = (token: string) => Principal | undefined;

/**
 * Recognises tokens: hashes the one presented and compares it with every stored hash in
 * constant time (no early exit), so the time taken says nothing about which bytes matched.
 */
export function createVerifier(entries: readonly TokenEntry[]): Verifier {
  const principals = entries.map(
    (e): Principal => ({
      name: e.workerId ?? `${e.role}:${e.hash.subarray(0, 4).toString('hex')}`,
      role: e.role,
      ...(e.workerId === undefined ? {} : { workerId: e.workerId }),
    }),
  );
  return (token) => {
    const hash = hashToken(token);
    let found: Principal | undefined;
    for (const [i, entry] of entries.entries()) {
      if (timingSafeEqual(hash, entry.hash) && found === undefined) found = principals[i];
    }
    return found;
  };
}
