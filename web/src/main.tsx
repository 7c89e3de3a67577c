// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { render } from 'preact';
import { createApi } from './api.js';
import { App } from './app.js';
import { startLive } from './live.js';
import { createModel } from './model.js';
import { EventKind } from './proto.js';
import { readRepo } from './repo-state.js';
import { throttle } from './throttle.js';
import { readToken } from './token.js';
import './styles.css';

const api = createApi(location.origin, readToken);
const model = createModel();

// Workers, the rate limiter and costs come from GetStatus (one small answer, no tasks): re-read
// at most once a second while events arrive, and every 5 s otherwise, since the rate buckets
// refill without an event.
const status = throttle(async () => {
  try {
    model.setStatus(await api.coordinator.getStatus({}));
  } catch {
    // The event stream reports the connection; the next event or tick asks again.
  }
}, 1000);
status.request();
setInterval(() => {
  if (model.connection.state === 'live') status.request();
}, 5000);

// The repository views (conflict matrix, merge queue, workspaces) are read when the page opens and
// again after the events that change them; a server without --repo says so once and is not asked
// again until the page reconnects (the server may have restarted with it).
const REPO_EVENTS = new Set([
  EventKind.CONFLICT,
  EventKind.CONFLICT_CLEARED,
  EventKind.MERGE_QUEUED,
  EventKind.MERGED,
  EventKind.MERGE_REJECTED,
  EventKind.WORKER_JOINED,
  EventKind.WORKER_LEFT,
  EventKind.TASK_COMPLETE,
]);
const repo = throttle(async () => model.setRepo(await readRepo(api)), 1000);
repo.request();

startLive({
  api,
  model,
  onEvents: (events) => {
    status.request();
    if (model.repo.state !== 'off' && events.some((e) => REPO_EVENTS.has(e.kind))) repo.request();
  },
  onReconnect: () => {
    status.request();
    repo.request();
  },
});

const root = document.getElementById('app')!;
root.textContent = '';
render(<App api={api} model={model} />, root);
