// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { render } from 'preact';
import { createApi } from './api.js';
import { App } from './app.js';
import { startLive } from './live.js';
import { createModel } from './model.js';
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

startLive({
  api,
  model,
  onEvents: () => status.request(),
  onReconnect: () => status.request(),
});

const root = document.getElementById('app')!;
root.textContent = '';
render(<App api={api} model={model} />, root);
