import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/** The repository: this file runs as dist/test/client/sdk-package.test.js. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The TypeScript the repository pins (5.9.3), the one a consumer would check the example with. */
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

interface Proc {
  readonly child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
  stdout(): string;
  readonly exited: Promise<number | null>;
}

function start(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let all = '';
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    all += chunk.toString();
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    all += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => {
    child.once('error', () => done(null));
    child.once('exit', (code) => done(code));
  });
  return { child, output: () => all, stdout: () => out, exited };
}

async function run(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<Proc & { code: number | null }> {
  const proc = start(command, args, cwd);
  return { ...proc, code: await proc.exited };
}

/** Resolves with the first match of `pattern` in the process's output; rejects if it exits first. */
async function outputMatch(proc: Proc, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  for (;;) {
    const match = pattern.exec(proc.output());
    if (match !== null) return match;
    if (exited || Date.now() > deadline) throw new Error(`no ${pattern} in:\n${proc.output()}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** The first TypeScript block of the README that imports the SDK: the worker example. */
function readmeWorkerExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  for (const [, code] of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
    if (code?.includes("from 'baton/client'")) return code;
  }
  throw new Error('README.md has no ```ts block importing baton/client');
}

interface LockEntry {
  readonly version: string;
  readonly integrity?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  readonly [field: string]: unknown;
}

/**
 * A lockfile for a project that depends on the tarball and on @types/node, with every package at
 * the version (and integrity) the repository's own lockfile has. `npm ci --offline` then takes
 * each one from the npm cache that installing the repository filled: npm ci does not cache the
 * registry's package documents that a plain `npm install <tarball>` resolves versions with.
 */
function scratchProject(tarball: string, typesNode: string): { manifest: object; lock: object } {
  const repo = (
    JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    }
  ).packages;
  const own = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as LockEntry & { bin: object };
  const packages: Record<string, object> = {};
  const add = (name: string, parent?: string): void => {
    // Node's resolution: a copy nested under the package that needs it, else the hoisted one.
    const path = [parent && `${parent}/node_modules/${name}`, `node_modules/${name}`].find(
      (p) => p !== undefined && p !== '' && repo[p] !== undefined,
    );
    if (path === undefined) throw new Error(`package-lock.json has no ${name}`);
    if (packages[path] !== undefined) return;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = repo[path] as LockEntry;
    packages[path] = entry;
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const needs = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((p) => optionalPeers[p]?.optional !== true),
    ];
    for (const dep of needs) add(dep, path);
  };
  for (const dep of Object.keys(own.dependencies ?? {})) add(dep);
  add('@types/node');
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const dependencies = { baton: `file:${tarball}`, '@types/node': typesNode };
  const manifest = { name: 'scratch', private: true, type: 'module', dependencies };
  const lock = {
    name: 'scratch',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'scratch', dependencies },
      'node_modules/baton': {
        version: own.version,
        resolved: `file:${tarball}`,
        integrity,
        dependencies: own.dependencies,
        bin: own.bin,
      },
      ...packages,
    },
  };
  return { manifest, lock };
}

/** What the README's `./model.js` stands for: a model client that answers at once. */
const MODEL_STUB = `
export interface Answer { text: string; tokens: number; usd: number; in: number; out: number }
export async function callModel(input: unknown, options: { signal: AbortSignal }): Promise<Answer> {
  options.signal.throwIfAborted();
  return { text: 'answered ' + JSON.stringify(input), tokens: 1_500, usd: 0.25, in: 1_000, out: 500 };
}
`;

/** Strict, and checking the SDK's declarations too (no skipLibCheck). */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    outDir: 'out',
  },
  include: ['*.ts'],
};

/** Failures of the machine, not of the package: the registry cannot be reached. */
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/;

describe('the TypeScript SDK as a package', function () {
  this.timeout(240_000);
  let dir: string;
  const running: ChildProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-sdk-'));
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs from its npm pack tarball and runs the README worker example, type-checked with strict tsc', async function () {
    // 1. npm pack: prepare builds lib/ (JS and .d.ts) with tsconfig.build.json.
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], REPO);
    expect(packed.code, packed.output()).to.equal(0);
    const json = packed.stdout();
    const [info] = JSON.parse(json.slice(json.lastIndexOf('\n[') + 1)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const tarball = join(dir, basename(info?.filename ?? ''));
    const shipped = (info?.files ?? []).map((f) => f.path);
    expect(shipped).to.include.members(['lib/client/index.js', 'lib/client/index.d.ts', 'lib/cli/main.js']);
    expect(
      shipped.filter((p) => p.startsWith('test/') || p.startsWith('dist/') || p.startsWith('src/')),
    ).to.deep.equal([]);

    // 2. A scratch project installs the tarball. Scripts are skipped as the README says a
    // workers-only project may: better-sqlite3's native build is the server's, and slow.
    const project = join(dir, 'project');
    const typesNode = (
      JSON.parse(readFileSync(join(REPO, 'node_modules/@types/node/package.json'), 'utf8')) as LockEntry
    ).version;
    mkdirSync(project);
    const { manifest, lock } = scratchProject(tarball, typesNode);
    writeFileSync(join(project, 'package.json'), JSON.stringify(manifest));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock));
    const quiet = ['--ignore-scripts', '--no-audit', '--no-fund'];
    let installed = await run('npm', ['ci', '--offline', ...quiet], project);
    if (installed.code !== 0 && installed.output().includes('ENOTCACHED')) {
      console.log('      (the npm cache lacks a dependency: installing from the registry instead)');
      installed = await run('npm', ['ci', '--prefer-offline', ...quiet], project);
      if (installed.code !== 0 && OFFLINE.test(installed.output())) {
        console.log(
          `      skipped: the npm cache lacks a dependency and the registry is unreachable:\n${installed.output()}`,
        );
        this.skip();
      }
    }
    expect(installed.code, installed.output()).to.equal(0);

    // 3. The README's example, exactly, type-checked by a strict consumer.
    writeFileSync(join(project, 'worker.ts'), readmeWorkerExample());
    writeFileSync(join(project, 'model.ts'), MODEL_STUB);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
    const checked = await run(process.execPath, [TSC, '-p', project], project);
    expect(checked.output(), 'tsc output').to.equal('');
    expect(checked.code).to.equal(0);

    // 4. The installed `baton` command serves; the compiled example works for it until drained.
    const server = start(
      join(project, 'node_modules/.bin/baton'),
      ['serve', '--port', '0', '--store', 'memory'],
      project,
    );
    running.push(server.child);
    const url = (await outputMatch(server, /listening on (http:\/\/\S+)/))[1] as string;
    const worker = start(process.execPath, ['out/worker.js'], project, { BATON_URL: url });
    running.push(worker.child);
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}/api/coordination${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return (await response.json()) as { status?: string; result?: unknown; state?: string };
    };
    await api('POST', '/tasks', { id: 'greet', category: 'llm', metadata: { prompt: 'hello' } });
    const deadline = Date.now() + 15_000;
    let task = await api('GET', '/tasks/greet');
    while (task.status !== 'complete' && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
      task = await api('GET', '/tasks/greet');
    }
    expect(task, worker.output()).to.deep.include({ status: 'complete' });
    expect(task.result).to.deep.equal({ summary: 'answered {"prompt":"hello"}' });
    expect(await api('POST', '/drain', {})).to.deep.equal({ state: 'drained' });
    expect(await worker.exited, `the worker ends after the drain:\n${worker.output()}`).to.equal(0);
    server.child.kill('SIGTERM');
    expect(await server.exited).to.equal(0);
  });
});
