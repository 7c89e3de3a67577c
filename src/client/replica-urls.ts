// The SDKs' choice of replica: follow the leader a standby names, else try the next URL.
import { Code, type ConnectError } from '@connectrpc/connect';

/** The header a standby names the leader in (also said in its message). */
const LEADER_HEADER = 'baton-leader';

/** How a standby's refusals begin, with or without a leader to name. */
const STANDBY_MESSAGE = /^this replica is a standby\b/;

/** Node.js error codes of a request that never reached a server: nothing listened, or no such host. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

export interface ReplicaUrls {
  /** The URL to send the next call (or open the next session) at. */
  current(): string;
  /**
   * A call to `at` (default: the current URL) ended with `error`: go to the leader it names (a
   * standby's refusal), or, if the replica could not be reached, was lost or does not serve, to
   * the next URL in the list. A failure at a URL that is no longer current changes nothing, so
   * calls failing together at a dead leader move the list on once.
   */
  ended(error: ConnectError | undefined, at?: string): void;
}

/** Where a standby's refusal says the leader is: its `baton-leader` header, or its message. */
export function leaderNamedBy(error: ConnectError): string | undefined {
  const header = error.metadata.get(LEADER_HEADER);
  if (header !== null && header !== '') return header;
  return /the leader is (https?:\/\/\S+)$/.exec(error.rawMessage)?.[1];
}

/**
 * What a failed call says about the replica it went to. `refused`: it was not applied (a standby
 * refused it, or nothing answered at the URL), so any call may go again elsewhere. `lost`: the
 * replica went away mid-call or answered UNAVAILABLE (a leader shutting down or deposed), so the
 * call may or may not have been applied. Undefined: the replica answered; the answer stands.
 */
export function failoverOf(error: ConnectError): 'refused' | 'lost' | undefined {
  if (error.code === Code.Unavailable && STANDBY_MESSAGE.test(error.rawMessage)) return 'refused';
  const cause = nodeErrorCode(error);
  if (cause !== undefined && NEVER_SENT.has(cause)) return 'refused';
  // connect-node reports a connection reset (a leader killed mid-call) as ABORTED with the
  // Node.js error as its cause; an ABORTED the coordinator sent has none.
  if (error.code === Code.Unavailable || (error.code === Code.Aborted && cause !== undefined)) return 'lost';
  return undefined;
}

/** The `code` of the Node.js error under a ConnectError (ECONNREFUSED, ECONNRESET, ...), if any. */
function nodeErrorCode(error: ConnectError): string | undefined {
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cause = cause.cause;
  }
  return undefined;
}

/**
 * Several replicas of one coordinator (`baton serve` on one PostgreSQL database): exactly one
 * leads. A call refused UNAVAILABLE by a standby goes to the leader it names; a replica that
 * cannot be reached, is lost, or refuses without naming one is left for the next URL, round the list.
 */
export function createReplicaUrls(urls: readonly string[]): ReplicaUrls {
  if (urls.length === 0) throw new TypeError('urls must list at least one coordinator URL');
  const known = urls.map((u) => u.replace(/\/+$/, ''));
  let index = 0;
  let followed: string | undefined;
  const current = (): string => followed ?? (known[index] as string);
  return {
    current,
    ended(error, at) {
      if (error === undefined || failoverOf(error) === undefined) return;
      if (at !== undefined && at !== current()) return;
      const leader = leaderNamedBy(error);
      if (leader !== undefined && leader !== followed && leader !== known[index]) {
        followed = leader;
        return;
      }
      followed = undefined;
      index = (index + 1) % known.length;
    },
  };
}
