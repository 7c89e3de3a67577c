/**
 * init → running ⇄ draining → drained → running …; any state → stopped.
 * Drain is a pause: it lets held tasks finish, assigns nothing new, and ends in `drained`, which
 * `start()` resumes. Only `stop()` is final; `reopen()` is the operator's deliberate way back.
 */
export type CoordinatorState = 'init' | 'running' | 'draining' | 'drained' | 'stopped';

export const COORDINATOR_STATES: readonly CoordinatorState[] = [
  'init',
  'running',
  'draining',
  'drained',
  'stopped',
];
