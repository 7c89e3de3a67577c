// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useMemo, useState } from 'preact/hooks';
import type { Api } from './api.js';
import { useHashRoute, useModel } from './hooks.js';
import type { Model } from './model.js';
import type { ConfirmRequest, Notice, Ui } from './ui.js';
import { UiContext } from './ui.js';
import { Dag } from './views/dag.js';
import { ConfirmDialog, Notices } from './views/dialogs.js';
import { Header } from './views/header.js';
import { Overview } from './views/overview.js';
import { Repo } from './views/repo.js';
import { SignIn } from './views/sign-in.js';
import { TaskDetails } from './views/task-details.js';
import { Workers } from './views/workers.js';

const ROUTES: readonly (readonly [string, string])[] = [
  ['overview', 'Overview'],
  ['workers', 'Workers'],
  ['graph', 'Graph'],
];
/** Shown only when the server shares a repository (`baton serve --repo`). */
const REPO_ROUTE = ['repo', 'Repository'] as const;

let noticeId = 0;

export function App({ api, model }: { api: Api; model: Model }) {
  useModel(model);
  const route = useHashRoute('overview');
  const [selected, setSelected] = useState<string | undefined>();
  const [request, setRequest] = useState<ConfirmRequest | undefined>();
  const [notices, setNotices] = useState<readonly Notice[]>([]);
  const ui = useMemo<Ui>(
    () => ({
      api,
      model,
      select: setSelected,
      confirm: setRequest,
      notify(text, kind) {
        const notice = { id: ++noticeId, text, kind };
        setNotices((list) => [...list.slice(-3), notice]);
        setTimeout(() => setNotices((list) => list.filter((n) => n !== notice)), 6000);
      },
    }),
    [api, model],
  );
  return (
    <UiContext.Provider value={ui}>
      <Header routes={model.repo.state === 'on' ? [...ROUTES, REPO_ROUTE] : ROUTES} route={route} />
      <main class={selected === undefined ? '' : 'with-drawer'}>
        {model.connection.state === 'locked' ? (
          <SignIn error={model.connection.error} />
        ) : route === 'workers' ? (
          <Workers />
        ) : route === 'graph' ? (
          <Dag />
        ) : route === 'repo' && model.repo.state === 'on' ? (
          <Repo repo={model.repo.view} />
        ) : (
          <Overview />
        )}
      </main>
      {selected !== undefined && <TaskDetails id={selected} />}
      {request !== undefined && (
        <ConfirmDialog request={request} onClose={() => setRequest(undefined)} notify={ui.notify} />
      )}
      <Notices notices={notices} />
    </UiContext.Provider>
  );
}
