import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type AdminClient, createAdminClient } from '../client/admin.js';
import { collect } from './flag-values.js';
import { UsageError } from './usage-error.js';

/** The coordinator a client command talks to when neither --url nor BATON_URL says otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:50051';

/** How long a one-shot call waits for its answer before the coordinator counts as unreachable. */
export const CALL_TIMEOUT_MS = 15_000;

/** The flags every command that talks to a coordinator takes. */
export interface ClientFlags {
  /** Every --url, comma lists split. */
  readonly url?: readonly string[];
  readonly json?: boolean;
  readonly token?: string;
  readonly ca?: string;
}

/** Adds --url and --json to a command that talks to a running coordinator. */
export function withClientOptions(command: Command): Command {
  return command
    .option(
      '--url <url>',
      `the coordinator (BATON_URL, default ${DEFAULT_URL}); several replicas: repeat it or give a comma list`,
      collect,
    )
    .option('--json', "print JSON (the REST API's shape) instead of text, for scripts")
    .option(
      '--token <token>',
      'bearer token for a coordinator with --auth-file (BATON_TOKEN; prefer the variable)',
    )
    .option(
      '--ca <path>',
      'PEM certificate to trust for an https:// URL, e.g. a self-signed --tls-cert (BATON_CA)',
    );
}

/**
 * The coordinator's URLs from --url (repeated, or a comma list) or BATON_URL (a comma list): one,
 * or every replica's; a UsageError naming the flag for one that is not http(s).
 */
export function urlsOf(flags: ClientFlags, env: NodeJS.ProcessEnv): string[] {
  const source = flags.url === undefined && env.BATON_URL !== undefined ? 'BATON_URL' : '--url';
  const urls = flags.url ?? collect(env.BATON_URL ?? DEFAULT_URL);
  if (urls.length === 0) throw new UsageError(`${source} must be an http:// or https:// URL, got ""`);
  return urls.map((raw) => {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new UsageError(`${source} must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
    return raw.replace(/\/+$/, '');
  });
}

/**
 * The admin client for the command's coordinator. One-shot commands get a call timeout; a
 * stream (`watch`) gets none, since it is meant to run until the graph settles.
 */
export function adminClientOf(flags: ClientFlags, env: NodeJS.ProcessEnv, stream = false): AdminClient {
  const urls = urlsOf(flags, env);
  const token = flags.token ?? env.BATON_TOKEN;
  if (token !== undefined && token.trim() === '') throw new UsageError('--token must not be empty');
  const caPath = flags.ca ?? env.BATON_CA;
  let ca: Buffer | undefined;
  if (caPath !== undefined) {
    try {
      ca = readFileSync(caPath);
    } catch (error) {
      throw new UsageError(`--ca ${caPath}: ${(error as Error).message}`);
    }
  }
  return createAdminClient({
    urls,
    ...(token === undefined ? {} : { token }),
    ...(ca === undefined ? {} : { ca }),
    ...(stream ? {} : { defaultTimeoutMs: CALL_TIMEOUT_MS }),
  });
}
