/** init → running → draining → stopped. Stopped is final. */
export type CoordinatorState = 'init' | 'running' | 'draining' | 'stopped';

export const COORDINATOR_STATES: readonly CoordinatorState[] = ['init', 'running', 'draining', 'stopped'];
