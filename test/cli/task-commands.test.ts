import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { baton, type Json, restGet } from './run-baton.js';

/** The `baton tasks ...` commands, spawned for real against a live server on port 0. */
describe('baton tasks: add, list, show, cancel, retry against a live coordinator', function () {
  this.timeout(30_000);
  let server: BatonServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const rest = (path: string): Promise<Json> => restGet(server.url, path);

  beforeEach(async () => {
    server = await startServer({ port: 0, store: 'memory' });
    env = { BATON_URL: server.url };
    dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
  });
  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a task from flags, and tasks show --json prints exactly what GET /tasks/:id answers', async () => {
    const added = await baton(
      [
        'tasks',
        'add',
        'plan',
        '--category',
        'llm',
        '--priority',
        '5',
        '--metadata',
        '{"repo":"baton"}',
        '--max-attempts',
        '2',
      ],
      env,
    );
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout)
      .to.match(/^ID\s+STATUS\s+CATEGORY/)
      .and.match(/\nplan\s+pending\s+llm\s/);
    expect(added.stdout).to.include('added 1 task(s)');

    const shown = await baton(['tasks', 'show', 'plan', '--json'], env);
    expect(shown.code).to.equal(0);
    expect(JSON.parse(shown.stdout)).to.deep.equal(await rest('/tasks/plan'));
    expect(JSON.parse(shown.stdout)).to.deep.include({
      id: 'plan',
      status: 'pending',
      priority: 5,
      maxAttempts: 2,
    });

    const text = await baton(['tasks', 'show', 'plan'], env);
    expect(text.stdout)
      .to.match(/^id:\s+plan\nstatus:\s+pending\n/)
      .and.match(/metadata:\s+\{\n\s+"repo": "baton"\n\s+\}/);
  });

  it('adds a YAML file of tasks as one batch whose deps point inside it', async () => {
    const file = join(dir, 'tasks.yaml');
    writeFileSync(
      file,
      'tasks:\n  - id: plan\n    category: llm\n  - id: code\n    deps: [plan]\n    max_attempts: 5\n  - id: test\n    deps: [code]\n    paths: ["src/**"]\n',
    );
    const run = await baton(['tasks', 'add', '--file', file, '--json'], env);
    expect(run.code, run.stderr).to.equal(0);
    const tasks = JSON.parse(run.stdout) as Json[];
    expect(tasks.map((t) => [t.id, t.deps, t.maxAttempts])).to.deep.equal([
      ['plan', [], 3],
      ['code', ['plan'], 5],
      ['test', ['code'], 3],
    ]);
    expect((await rest('/tasks/test')).paths).to.deep.equal(['src/**']);
  });

  it('reads a JSON list of tasks from stdin with --file -', async () => {
    const run = await baton(
      ['tasks', 'add', '-f', '-'],
      env,
      JSON.stringify([{ id: 'a' }, { id: 'b', deps: ['a'] }]),
    );
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('added 2 task(s)');
    expect((await rest('/tasks/b')).deps).to.deep.equal(['a']);
  });

  it('refuses a file with a field of the wrong type or an unknown one, naming it, sending nothing (exit 2)', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, '- id: a\n- id: b\n  deps: a\n');
    const wrongType = await baton(['tasks', 'add', '-f', file], env);
    expect(wrongType.code).to.equal(2);
    expect(wrongType.stderr).to.include(`baton: ${file}: tasks[1].deps must be a list of strings`);
    writeFileSync(file, '- id: a\n  dependencies: [b]\n');
    const unknown = await baton(['tasks', 'add', '-f', file], env);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('tasks[0] has an unknown field "dependencies"');
    writeFileSync(file, '- id: a\n  deps: [b\n');
    const broken = await baton(['tasks', 'add', '-f', file], env);
    expect([broken.code, broken.stderr]).to.satisfy(
      ([c, e]: [number, string]) => c === 2 && e.includes('not valid JSON or YAML'),
    );
    const missing = await baton(['tasks', 'add', '-f', join(dir, 'none.yaml')], env);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('no such file');
    expect((await rest('/progress')).total).to.equal(0);
  });

  it("a batch the coordinator refuses adds nothing and exits 1 with the coordinator's message", async () => {
    const file = join(dir, 'tasks.yaml');
    writeFileSync(file, '- id: a\n- id: b\n  deps: [ghost]\n');
    const run = await baton(['tasks', 'add', '-f', file], env);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^baton: .*ghost/);
    expect((await rest('/progress')).total).to.equal(0);
  });

  it('refuses bad flags with a usage error naming the flag (exit 2), sending nothing', async () => {
    const cases: [string[], string][] = [
      [['tasks', 'add', 'x', '--priority', '1.5'], '--priority must be a whole number, got "1.5"'],
      [['tasks', 'add', 'x', '--max-attempts', '0'], '--max-attempts must be a whole number above 0'],
      [['tasks', 'add', 'x', '--metadata', '[1]'], '--metadata must be a JSON object'],
      [['tasks', 'add', 'x', '--metadata', '{'], '--metadata must be a JSON object:'],
      [['tasks', 'add'], 'give the new task an id'],
      [['tasks', 'add', 'x', '--file', 'f.yaml'], 'give a task id or --file, not both'],
      [['tasks', 'add', '--file', 'f.yaml', '--dep', 'a'], '--dep describes one task'],
      [
        ['tasks', 'list', '--status', 'done'],
        '--status must be one of pending, assigned, running, complete, failed, cancelled',
      ],
      [['tasks', 'list', '--limit', '-1'], '--limit must be a whole number above 0'],
      [['tasks', 'show'], "missing required argument 'id'"],
      [['status', '--url', 'ftp://x'], '--url must be an http:// or https:// URL, got "ftp://x"'],
    ];
    for (const [args, message] of cases) {
      const run = await baton(args, env);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).to.equal(2);
      expect(run.stderr, args.join(' ')).to.include(`baton: ${message}`).and.include('Usage: baton');
    }
    expect((await rest('/progress')).total).to.equal(0);
  });

  it('lists tasks with filters by status, category and worker; --json is an array of the REST shape', async () => {
    const file = join(dir, 'tasks.yaml');
    writeFileSync(
      file,
      '- {id: a, category: llm}\n- {id: b, category: ci}\n- {id: c, category: llm, deps: [a]}\n',
    );
    expect((await baton(['tasks', 'add', '-f', file], env)).code).to.equal(0);
    expect((await baton(['tasks', 'cancel', 'b'], env)).code).to.equal(0);

    const all = await baton(['tasks', 'list'], env);
    expect(
      all.stdout
        .split('\n')
        .filter((l) => /^[abc]\s/.test(l))
        .map((l) => l.split(/\s+/).slice(0, 3)),
    ).to.deep.equal([
      ['a', 'pending', 'llm'],
      ['b', 'cancelled', 'ci'],
      ['c', 'pending', 'llm'],
    ]);
    expect(all.stdout).to.include('3 task(s)');
    const ids = async (...args: string[]): Promise<string[]> => {
      const run = await baton(['tasks', 'list', '--json', ...args], env);
      expect(run.code, run.stderr).to.equal(0);
      return (JSON.parse(run.stdout) as Json[]).map((t) => t.id);
    };
    expect(await ids('--status', 'pending')).to.deep.equal(['a', 'c']);
    expect(await ids('--status', 'cancelled,complete')).to.deep.equal(['b']);
    expect(await ids('--category', 'llm', '--status', 'pending', '--limit', '1')).to.deep.equal(['a']);
    expect(await ids('--worker', 'nobody')).to.deep.equal([]);
    const listed = await baton(['tasks', 'list', '--json'], env);
    expect((JSON.parse(listed.stdout) as Json[])[0]).to.deep.equal(await rest('/tasks/a'));
    expect((await baton(['tasks', 'list', '--status', 'failed'], env)).stdout).to.equal('no tasks match\n');
  });

  it('cancels with its cascade and retries; an unknown task exits 3, a refused transition 1', async () => {
    const file = join(dir, 'tasks.yaml');
    writeFileSync(file, '- {id: a}\n- {id: b, deps: [a]}\n- {id: c, deps: [b]}\n');
    await baton(['tasks', 'add', '-f', file], env);

    const cancelled = await baton(['tasks', 'cancel', 'a', '--reason', 'not needed'], env);
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect(cancelled.stdout).to.equal('cancelled a (now cancelled); cascaded to 2 dependents: b, c\n');
    expect((await rest('/tasks/c')).status).to.equal('cancelled');

    const retried = await baton(['tasks', 'retry', 'a', '--json'], env);
    expect(retried.code).to.equal(0);
    const json = JSON.parse(retried.stdout);
    expect([json.task.id, json.task.status, json.cascadedIds]).to.deep.equal(['a', 'pending', ['b', 'c']]);

    const again = await baton(['tasks', 'retry', 'a'], env);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^baton: /);
    for (const command of ['show', 'cancel', 'retry']) {
      const none = await baton(['tasks', command, 'ghost'], env);
      expect(none.code, command).to.equal(3);
      expect(none.stderr, command).to.match(/^baton: .*ghost.*\n$/);
    }
  });
});
