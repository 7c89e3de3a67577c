// The worker SDK's choice of replica: follow the leader a standby names, else try the next URL.
import { Code, type ConnectError } from '@connectrpc/connect';

/** The header a standby names the leader in (also said in its message). */
const LEADER_HEADER = 'baton-leader';

export interface ReplicaUrls {
  /** The URL to open the next session at. */
  current(): string;
  /**
   * A session ended with `error`: go to the leader it names (a standby's refusal), or, if the
   * replica could not be reached or does not serve, to the next URL in the list.
   */
  ended(error: ConnectError | undefined): void;
}

/** Where a standby's refusal says the leader is: its `baton-leader` header, or its message. */
export function leaderNamedBy(error: ConnectError): string | undefined {
  const header = error.metadata.get(LEADER_HEADER);
  if (header !== null && header !== '') return header;
  return /the leader is (https?:\/\/\S+)$/.exec(error.rawMessage)?.[1];
}

/**
 * Several replicas of one coordinator (`baton serve` on one PostgreSQL database): exactly one
 * leads. A session refused UNAVAILABLE by a standby goes to the leader it names; a replica that
 * cannot be reached (or refuses without naming one) is left for the next URL, round the list.
 */
export function createReplicaUrls(urls: readonly string[]): ReplicaUrls {
  if (urls.length === 0) throw new TypeError('urls must list at least one coordinator URL');
  const known = urls.map((u) => u.replace(/\/+$/, ''));
  let index = 0;
  let followed: string | undefined;
  return {
    current: () => followed ?? (known[index] as string),
    ended(error) {
      if (error === undefined || error.code !== Code.Unavailable) return;
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
