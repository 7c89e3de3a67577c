// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).

/**
 * The PostgreSQL store's schema, by the version it starts from: MIGRATIONS[v] takes the `baton`
 * schema from version v to v+1 (0: no `baton` schema yet). Append only; a released migration never
 * changes. They run in one transaction with the version bump, under an advisory lock, so replicas
 * starting together migrate once and a database is always at exactly one version.
 *
 * Everything lives in the PostgreSQL schema `baton`, so the database may hold other things.
 * Values the core produces as JSON (task rows, the rate limiter, records) are kept as text, exactly
 * as written, as SQLite keeps them.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the coordinator's image as in SQLite's schema v3, the leader row, and one function that
  // applies a whole group commit, so a commit is one statement, one round trip and one transaction.
  `
  CREATE SCHEMA baton;
  CREATE TABLE baton.schema_version (version integer NOT NULL);
  INSERT INTO baton.schema_version VALUES (0);
  CREATE TABLE baton.meta (key text PRIMARY KEY, value text NOT NULL);
  -- The number of the last commit stored: each commit carries a higher one, so a commit the store
  -- gave up on (timed out, its connection lost) that the server finishes later is refused
  -- instead of landing over newer ones.
  INSERT INTO baton.meta VALUES ('commit_seq', '0');
  CREATE TABLE baton.tasks (id text PRIMARY KEY, seq bigint NOT NULL, row text NOT NULL);
  CREATE TABLE baton.leases (worker_id text PRIMARY KEY, expires_at bigint NOT NULL);
  CREATE TABLE baton.cost_accounts (
    worker_id text PRIMARY KEY,
    spent_micro_usd bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    warned boolean NOT NULL,
    exceeded boolean NOT NULL
  );
  -- n counts a worker's remembered ids (1, 2, ...); only its last RECENT_REPORTS are kept. A commit
  -- repeated after a lost answer remembers no id twice.
  CREATE TABLE baton.cost_reports (
    worker_id text NOT NULL,
    n bigint NOT NULL,
    report_id text NOT NULL,
    PRIMARY KEY (worker_id, n),
    UNIQUE (worker_id, report_id)
  );
  CREATE TABLE baton.records (kind text NOT NULL, id text NOT NULL, body text NOT NULL,
    PRIMARY KEY (kind, id));
  -- Who may write: the one row's token is the fencing token. A replica becomes leader by raising it
  -- (only once the lease has run out by the database's clock), and every commit names the token it
  -- was granted, so a deposed leader's commits are refused by the database itself.
  CREATE TABLE baton.leader (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    token bigint NOT NULL,
    holder text NOT NULL,
    url text NOT NULL,
    expires_at timestamptz NOT NULL
  );

  -- One group commit. JSON the core wrote (task rows, records, the rate limiter, budget flags) is
  -- passed and kept as text, never parsed here: PostgreSQL's JSON types cannot hold a NUL, which a
  -- worker's result may contain. Arrays side by side are the rows to write.
  CREATE FUNCTION baton.commit(
    fence bigint, commit_no bigint, new_state text, next_seq bigint,
    task_ids text[], task_seqs bigint[], task_rows text[], removed_tasks text[],
    lease_ids text[], lease_deadlines bigint[], removed_leases text[],
    rate_limiter text,
    costs_replace boolean, cost_global text, account_ids text[], account_spent bigint[],
    account_input bigint[], account_output bigint[], account_warned boolean[], account_exceeded boolean[],
    report_workers text[], report_ids text[], keep_reports bigint,
    record_kinds text[], record_ids text[], record_bodies text[],
    removed_record_kinds text[], removed_record_ids text[]
  ) RETURNS void LANGUAGE plpgsql AS $$
  DECLARE
    held bigint;
  BEGIN
    UPDATE baton.meta SET value = commit_no::text WHERE key = 'commit_seq' AND value::bigint < commit_no;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'superseded: commit % is older than the last one stored', commit_no
        USING ERRCODE = 'BT002';
    END IF;
    IF fence IS NOT NULL THEN
      -- FOR SHARE: a takeover (which updates the row) waits for this commit, or this commit for
      -- the takeover and then sees the new token.
      SELECT token INTO held FROM baton.leader FOR SHARE;
      IF held IS DISTINCT FROM fence THEN
        RAISE EXCEPTION 'fenced: this replica''s leadership (token %) was taken over (token %)', fence, held
          USING ERRCODE = 'BT001';
      END IF;
    END IF;
    IF new_state IS NOT NULL THEN
      INSERT INTO baton.meta VALUES ('state', new_state) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    ELSE
      INSERT INTO baton.meta VALUES ('state', 'init') ON CONFLICT (key) DO NOTHING;
    END IF;
    IF next_seq IS NOT NULL THEN
      INSERT INTO baton.meta VALUES ('next_seq', next_seq::text)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    END IF;
    INSERT INTO baton.tasks (id, seq, row) SELECT * FROM unnest(task_ids, task_seqs, task_rows)
      ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, row = excluded.row;
    DELETE FROM baton.tasks WHERE id = ANY (removed_tasks);
    INSERT INTO baton.leases (worker_id, expires_at) SELECT * FROM unnest(lease_ids, lease_deadlines)
      ON CONFLICT (worker_id) DO UPDATE SET expires_at = excluded.expires_at;
    DELETE FROM baton.leases WHERE worker_id = ANY (removed_leases);
    IF rate_limiter IS NOT NULL THEN
      INSERT INTO baton.meta VALUES ('rate_limiter', rate_limiter)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    END IF;
    IF cost_global IS NOT NULL THEN
      IF costs_replace THEN
        DELETE FROM baton.cost_accounts;
        DELETE FROM baton.cost_reports;
      END IF;
      INSERT INTO baton.meta VALUES ('cost_global', cost_global)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
      INSERT INTO baton.cost_accounts
        SELECT * FROM unnest(account_ids, account_spent, account_input, account_output, account_warned,
                             account_exceeded)
        ON CONFLICT (worker_id) DO UPDATE SET spent_micro_usd = excluded.spent_micro_usd,
          input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
          warned = excluded.warned, exceeded = excluded.exceeded;
      INSERT INTO baton.cost_reports (worker_id, n, report_id)
        SELECT r.w, coalesce((SELECT max(n) FROM baton.cost_reports WHERE worker_id = r.w), 0)
                    + row_number() OVER (PARTITION BY r.w ORDER BY r.ord), r.id
        FROM unnest(report_workers, report_ids) WITH ORDINALITY AS r(w, id, ord)
        ON CONFLICT DO NOTHING;
      DELETE FROM baton.cost_reports cr
        USING (SELECT worker_id, max(n) AS top FROM baton.cost_reports
               WHERE worker_id = ANY (report_workers) GROUP BY worker_id) last
        WHERE cr.worker_id = last.worker_id AND cr.n <= last.top - keep_reports;
    END IF;
    INSERT INTO baton.records (kind, id, body) SELECT * FROM unnest(record_kinds, record_ids, record_bodies)
      ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body;
    DELETE FROM baton.records WHERE (kind, id) IN
      (SELECT * FROM unnest(removed_record_kinds, removed_record_ids));
  END;
  $$;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
