// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type LifecycleAction, lifecycleRequest } from '../actions.js';
import { useNow } from '../hooks.js';
import { LifecycleState } from '../proto.js';
import { lifecycleName } from '../status.js';
import { readToken, writeToken } from '../token.js';
import { useUi } from '../ui.js';

/** Which lifecycle buttons make sense in each state (the server refuses the rest anyway). */
const ENABLED: Readonly<Record<LifecycleAction, readonly LifecycleState[]>> = {
  start: [LifecycleState.INIT, LifecycleState.DRAINING, LifecycleState.DRAINED],
  drain: [LifecycleState.RUNNING],
  stop: [LifecycleState.INIT, LifecycleState.RUNNING, LifecycleState.DRAINING, LifecycleState.DRAINED],
};

function ConnectionBadge() {
  const { model } = useUi();
  const now = useNow(500);
  const c = model.connection;
  if (c.state === 'live')
    return (
      <span class="conn live" data-testid="connection" data-state="live">
        <i class="pulse" /> {c.reconnected && now - c.since < 5000 ? 'reconnected · live' : 'live'}
      </span>
    );
  if (c.state === 'locked')
    return (
      <span class="conn down" data-testid="connection" data-state="locked" title={c.error}>
        token needed
      </span>
    );
  if (c.state === 'connecting')
    return (
      <span class="conn" data-testid="connection" data-state="connecting">
        connecting…
      </span>
    );
  const left = Math.max(0, Math.ceil((c.retryAt - now) / 1000));
  return (
    <span class="conn down" data-testid="connection" data-state="reconnecting" title={c.error}>
      connection lost · {left > 0 ? `reconnecting in ${left} s` : 'reconnecting…'} (attempt {c.attempt})
    </span>
  );
}

export function Header({ routes, route }: { routes: readonly (readonly [string, string])[]; route: string }) {
  const { api, model, confirm } = useUi();
  const state = model.status?.state;
  const name = lifecycleName(state);
  return (
    <header class="top">
      <div class="brand">
        <svg viewBox="0 0 24 24" aria-hidden="true" class="logo">
          <rect x="3" y="10.5" width="18" height="3" rx="1.5" transform="rotate(-35 12 12)" />
          <circle cx="18.5" cy="7.5" r="2.5" />
        </svg>
        <span>Baton</span>
      </div>
      <nav>
        {routes.map(([id, label]) => (
          <a key={id} href={`#/${id}`} class={route === id ? 'active' : ''}>
            {label}
          </a>
        ))}
      </nav>
      <div class="right">
        <ConnectionBadge />
        {readToken() !== undefined && (
          <button
            type="button"
            class="small"
            title="Forget the token this tab sends"
            onClick={() => {
              writeToken(undefined);
              location.reload();
            }}
          >
            Sign out
          </button>
        )}
        <span class={`state st-${name}`} data-testid="lifecycle">
          {name}
        </span>
        {(['start', 'drain', 'stop'] as const).map((action) => (
          <button
            key={action}
            type="button"
            class={action === 'stop' ? 'danger' : ''}
            data-lifecycle={action}
            disabled={state === undefined || !ENABLED[action].includes(state)}
            onClick={() => confirm(lifecycleRequest(api, action))}
          >
            {action[0]!.toUpperCase() + action.slice(1)}
          </button>
        ))}
      </div>
    </header>
  );
}
