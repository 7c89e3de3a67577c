// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import type { Api } from './api.js';
import { lifecycleName } from './status.js';
import type { ConfirmRequest } from './ui.js';

export type LifecycleAction = 'start' | 'drain' | 'stop';

const LIFECYCLE: Readonly<Record<LifecycleAction, { title: string; body: string; danger: boolean }>> = {
  start: {
    title: 'Start the coordinator?',
    body: 'Ready tasks will be assigned to workers (a drained coordinator resumes).',
    danger: false,
  },
  drain: {
    title: 'Drain the coordinator?',
    body: 'Nothing new is assigned; workers finish what they hold. Start resumes later.',
    danger: false,
  },
  stop: {
    title: 'Stop the coordinator for good?',
    body: 'Stop is final: nothing is assigned or changed any more until an operator reopens the store with `baton serve --reopen`.',
    danger: true,
  },
};

export function lifecycleRequest(api: Api, action: LifecycleAction): ConfirmRequest {
  const { title, body, danger } = LIFECYCLE[action];
  const reason = 'from the dashboard';
  return {
    title,
    body,
    danger,
    action: action[0]!.toUpperCase() + action.slice(1),
    run: async () => {
      const { state } =
        action === 'start'
          ? await api.coordinator.start({})
          : action === 'drain'
            ? await api.coordinator.drain({ reason })
            : await api.coordinator.stop({ reason });
      return `Coordinator ${lifecycleName(state)}`;
    },
  };
}

export function cancelRequest(api: Api, taskId: string, dependents: number): ConfirmRequest {
  return {
    title: `Cancel task ${taskId}?`,
    body:
      dependents === 0
        ? 'A worker running it is told to stop.'
        : `A worker running it is told to stop, and every task that depends on it (${dependents} directly) is cancelled with it.`,
    action: 'Cancel task',
    danger: true,
    run: async () => {
      const { cascadedIds } = await api.coordinator.cancelTask({
        id: taskId,
        reason: 'cancelled from the dashboard',
      });
      return cascadedIds.length === 0
        ? `Cancelled ${taskId}`
        : `Cancelled ${taskId} and ${cascadedIds.length} dependent${cascadedIds.length === 1 ? '' : 's'}`;
    },
  };
}

export function retryRequest(api: Api, taskId: string): ConfirmRequest {
  return {
    title: `Retry task ${taskId}?`,
    body: 'It goes back to pending with a fresh attempt budget, with the dependents its end had cancelled.',
    action: 'Retry task',
    run: async () => {
      const { cascadedIds } = await api.coordinator.retryTask({ id: taskId });
      return cascadedIds.length === 0
        ? `Retried ${taskId}`
        : `Retried ${taskId} and ${cascadedIds.length} dependent${cascadedIds.length === 1 ? '' : 's'}`;
    },
  };
}
