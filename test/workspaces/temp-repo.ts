import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreRecord } from '../../src/core/store.js';
import { createGit, type Git } from '../../src/server/workspaces/git.js';
import type { MergeRecords } from '../../src/server/workspaces/merge-ledger.js';

/**
 * A real repository in a temp directory. Its checkout is on branch `operator`, never the target
 * `main`, so a test can assert the queue left the operator's files and index alone.
 */
export interface TempRepo {
  readonly path: string;
  readonly git: Git;
  /** The root commit (README), where `main` starts. */
  readonly root: string;
  /**
   * A commit on `parent` with top-level files set (a string) or deleted (null), written with
   * plumbing only, so no checkout moves.
   */
  commit(parent: string, files: Readonly<Record<string, string | null>>, message?: string): Promise<string>;
  /** Creates or moves `refs/heads/<name>` to `commit`. */
  branch(name: string, commit: string): Promise<void>;
  head(branch: string): Promise<string>;
  /** The branch's first-parent history, newest first. */
  firstParents(branch: string): Promise<string[]>;
  remove(): void;
}

/** A repository in a new directory `prefix...` under `parent` (default the system's temp directory). */
export async function createTempRepo(prefix = 'baton-mq-', parent = tmpdir()): Promise<TempRepo> {
  const path = mkdtempSync(join(parent, prefix));
  const git = createGit(path);
  await git.run(['init', '-q', '-b', 'operator']);
  await git.run(['config', 'user.name', 'Test']);
  await git.run(['config', 'user.email', 'test@localhost']);

  const commit = async (
    parent: string | undefined,
    files: Readonly<Record<string, string | null>>,
    message = 'change',
  ) => {
    const entries = new Map<string, string>();
    if (parent !== undefined) {
      for (const line of (await git.run(['ls-tree', '-z', parent])).stdout.split('\0')) {
        if (line !== '') entries.set(line.slice(line.indexOf('\t') + 1), line);
      }
    }
    for (const [name, content] of Object.entries(files)) {
      if (content === null) {
        entries.delete(name);
        continue;
      }
      const blob = await git.line(['hash-object', '-w', '--stdin'], { input: content });
      entries.set(name, `100644 blob ${blob}\t${name}`);
    }
    const tree = await git.line(['mktree', '-z'], {
      input: [...entries.values()].map((e) => `${e}\0`).join(''),
    });
    return git.line(['commit-tree', tree, ...(parent === undefined ? [] : ['-p', parent]), '-m', message]);
  };

  const root = await commit(undefined, { README: 'hello\n' }, 'root');
  await git.run(['update-ref', 'refs/heads/main', root]);
  await git.run(['update-ref', 'refs/heads/operator', root]);
  await git.run(['reset', '-q', '--hard']);
  return {
    path,
    git,
    root,
    commit,
    branch: async (name, at) => {
      await git.run(['update-ref', `refs/heads/${name}`, at]);
    },
    head: (branch) => git.line(['rev-parse', `refs/heads/${branch}`]),
    firstParents: async (branch) =>
      (await git.line(['rev-list', '--first-parent', `refs/heads/${branch}`])).split('\n'),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** The records interface of `openCoordinator(...).records`, kept in a Map (a store that never crashes). */
export function memoryRecords(): MergeRecords & { readonly all: Map<string, StoreRecord> } {
  const all = new Map<string, StoreRecord>();
  const key = (kind: string, id: string) => `${kind}\u0000${id}`;
  return {
    all,
    restored: (kind) => [...all.values()].filter((r) => r.kind === kind),
    put: (kind, id, body) => all.set(key(kind, id), { kind, id, body: structuredClone(body) }),
    remove: (kind, id) => all.delete(key(kind, id)),
  };
}
