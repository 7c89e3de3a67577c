import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A throwaway PostgreSQL cluster: initdb in a temp dir, a port of its own, its socket in the dir. */
export interface PostgresCluster {
  readonly port: number;
  /** `postgres://baton@127.0.0.1:port/<database>`. */
  url(database?: string): string;
  /** A new empty database on the cluster, for one spec; returns its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

/** Where the server binaries are: BATON_PG_BIN, else the newest /usr/lib/postgresql/N/bin (Debian). */
function binDir(): string | undefined {
  const fromEnv = process.env.BATON_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** PostgreSQL refuses to run as root: then the cluster runs as `nobody`. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a cluster for tests. fsync is off unless `durable`: the specs check what Baton commits
 * and restores, not that the disk keeps it (PostgreSQL's durability is its own); benchmarks ask
 * for `durable` (fsync and synchronous_commit on, as PostgreSQL ships) to compare with SQLite's
 * sync=full. Throws, saying why, when it cannot.
 */
export async function startPostgresCluster(options: { durable?: boolean } = {}): Promise<PostgresCluster> {
  const bin = binDir();
  if (bin === undefined) {
    throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin; set BATON_PG_BIN)');
  }
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  const data = join(dir, 'data');
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  const as = user === undefined ? {} : user;
  try {
    execFileSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'baton', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...as, stdio: 'pipe', cwd: dir, env: { ...process.env, LC_ALL: 'C' } },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`initdb failed: ${stderr || (error as Error).message}`);
  }
  const port = await freePort();
  const server: ChildProcess = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      ...(options.durable === true
        ? []
        : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
      '-c',
      'max_connections=200',
    ],
    { ...as, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  server.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  // The cluster must not keep the test run alive: it is stopped when the process exits.
  server.unref();
  (server.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  let exited = false;
  server.once('exit', () => {
    exited = true;
  });
  const url = (database = 'postgres') => `postgres://baton@127.0.0.1:${port}/${database}`;
  const kill = (): void => {
    if (!exited) server.kill('SIGQUIT');
  };
  // A test run that ends without stop() (a crash, ^C) still takes the cluster down.
  const onExit = (): void => {
    kill();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  process.once('exit', onExit);

  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url() });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => {});
      if (exited || Date.now() > deadline) {
        kill();
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
        throw new Error(`postgres did not start: ${(error as Error).message}\n${log}`);
      }
      await delay(100);
    }
  }

  let databases = 0;
  return {
    port,
    url,
    async createDatabase() {
      const name = `spec_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      process.removeListener('exit', onExit);
      if (!exited) {
        const gone = new Promise((resolve) => server.once('exit', resolve));
        server.ref(); // keep the process alive until it is gone
        server.kill('SIGINT'); // fast shutdown: disconnects clients, ends at once
        await gone;
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

let shared: Promise<PostgresCluster> | undefined;

/**
 * One cluster for the whole test run, started by the first spec that asks and stopped when the
 * process exits. Rejects, saying why, when PostgreSQL cannot start here.
 */
export function sharedPostgresCluster(): Promise<PostgresCluster> {
  shared ??= startPostgresCluster();
  return shared;
}

/**
 * For a suite's `before`: the shared cluster, or the reason it is skipped, printed as other
 * optional prerequisites are (the Python worker's).
 */
export async function postgresOrSkip(context: Mocha.Context): Promise<PostgresCluster> {
  try {
    return await sharedPostgresCluster();
  } catch (error) {
    console.log(`      skipped: PostgreSQL cannot start here: ${(error as Error).message}`);
    context.skip();
  }
}
