// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useState } from 'preact/hooks';
import { useNow } from '../hooks.js';
import { MergeState } from '../proto.js';
import type { RepoView } from '../repo-state.js';
import { ms, relative } from '../time.js';

const short = (sha: string): string => sha.slice(0, 8);

const MERGE_NAMES: Readonly<Record<number, string>> = {
  [MergeState.QUEUED]: 'queued',
  [MergeState.CHECKING]: 'checking',
  [MergeState.LANDED]: 'landed',
  [MergeState.REJECTED]: 'rejected',
};

/** Which pairs of branches conflict, a cell per pair; a click shows the paths git named. */
function Matrix({ repo }: { repo: RepoView }) {
  const [picked, setPicked] = useState<string | undefined>();
  const { branches, conflicts, target } = repo;
  const pair = (a: string, b: string) =>
    conflicts.find((c) => (c.branch === a && c.other === b) || (c.branch === b && c.other === a));
  const chosen =
    picked === undefined ? undefined : conflicts.find((c) => `${c.branch} ${c.other}` === picked);
  return (
    <section class="card" aria-label="Conflict matrix">
      <header>
        <h2>Conflict matrix</h2>
        <span class="muted" data-testid="conflict-count">
          {conflicts.length === 0
            ? 'every pair merges cleanly'
            : `${conflicts.length} conflicting pair${conflicts.length === 1 ? '' : 's'}`}
        </span>
      </header>
      {branches.length < 2 ? (
        <p class="muted">No worker branch yet: a worker that asks for a workspace gets one.</p>
      ) : (
        <div class="matrix-wrap">
          <table class="matrix">
            <thead>
              <tr>
                <th />
                {branches.map((b) => (
                  <th key={b} class="id vertical" title={b}>
                    <span class="vlabel">{b === target ? `${b} (target)` : b}</span>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {branches.map((a) => (
                <tr key={a}>
                  <th class="id">{a === target ? `${a} (target)` : a}</th>
                  {branches.map((b) => {
                    if (a === b) return <td key={b} class="self" />;
                    const c = pair(a, b);
                    if (c === undefined)
                      return <td key={b} class="clean" title={`${a} and ${b} merge cleanly`} />;
                    const key = `${c.branch} ${c.other}`;
                    return (
                      <td key={b} class={`conflict ${picked === key ? 'on' : ''}`} data-pair={`${a}|${b}`}>
                        <button
                          type="button"
                          title={c.paths.join('\n')}
                          onClick={() => setPicked(picked === key ? undefined : key)}
                        >
                          {c.paths.length}
                        </button>
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {chosen !== undefined && (
        <div class="paths" data-testid="conflict-paths">
          <h3>
            {chosen.branch} × {chosen.other} at {short(chosen.head)} / {short(chosen.otherHead)}
          </h3>
          <pre>{chosen.paths.join('\n')}</pre>
        </div>
      )}
    </section>
  );
}

function MergeQueue({ repo, now }: { repo: RepoView; now: number }) {
  return (
    <section class="card" aria-label="Merge queue">
      <header>
        <h2>Merge queue</h2>
        <span class="muted">onto {repo.target}</span>
      </header>
      {repo.entries.length === 0 ? (
        <p class="muted">Nothing queued: a task with land set queues its worker's head when it completes.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Entry</th>
              <th>Branch</th>
              <th>Head</th>
              <th>State</th>
              <th>By</th>
              <th>Queued</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {repo.entries.map((e) => {
              const state = MERGE_NAMES[e.state] ?? 'unknown';
              return (
                <tr key={e.id} data-entry={e.id}>
                  <td class="id">{e.id}</td>
                  <td class="id">{e.branch}</td>
                  <td class="id">{short(e.head)}</td>
                  <td>
                    <span class={`badge m-${state}`}>{state}</span>
                  </td>
                  <td>{e.by}</td>
                  <td class="muted">{relative(ms(e.queuedAt), now)}</td>
                  <td class={e.state === MergeState.REJECTED ? 'bad' : 'id'}>
                    {e.state === MergeState.LANDED ? `as ${short(e.landedAs)}` : e.reason}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Workspaces({ repo, now }: { repo: RepoView; now: number }) {
  return (
    <section class="card" aria-label="Workspaces">
      <header>
        <h2>Workspaces</h2>
        <span class="muted">a worktree and branch per worker</span>
      </header>
      {repo.workspaces.length === 0 ? (
        <p class="muted">No workspace yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Worker</th>
              <th>Branch</th>
              <th>Head</th>
              <th>Base</th>
              <th>Created</th>
              <th>Worktree</th>
            </tr>
          </thead>
          <tbody>
            {repo.workspaces.map((w) => (
              <tr key={w.workerId} data-workspace={w.workerId}>
                <td class="id">{w.workerId}</td>
                <td class="id">{w.branch}</td>
                <td class="id">{short(w.head)}</td>
                <td class="id">{short(w.base)}</td>
                <td class="muted">{relative(ms(w.createdAt), now)}</td>
                <td class="muted id">{w.path}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The shared repository (`baton serve --repo`): who conflicts with whom, what is landing, and where. */
export function Repo({ repo }: { repo: RepoView }) {
  useNow(5000);
  const now = Date.now();
  return (
    <div class="repo">
      <Matrix repo={repo} />
      <MergeQueue repo={repo} now={now} />
      <Workspaces repo={repo} now={now} />
    </div>
  );
}
