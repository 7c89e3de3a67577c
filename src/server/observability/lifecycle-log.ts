// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import type { Logger } from 'pino';
import type { EventBus } from '../../core/event-bus.js';
import type { CoordEvents } from '../../core/events.js';

/**
 * Logs what an operator follows of a coordinator's life: lifecycle changes and workers coming
 * and going at info; failed tasks, lapsed leases and budgets at warn; each task's steps at debug.
 * The per-task listeners are only installed when debug is on, so at info a task costs nothing
 * here. Returns the unsubscribe.
 */
export function logLifecycle(logger: Logger, events: EventBus<CoordEvents>): () => void {
  const offs = [
    events.on('coord:started', () => logger.info({ event: 'coord:started' }, 'coordinator running')),
    events.on('coord:draining', () => logger.info({ event: 'coord:draining' }, 'coordinator draining')),
    events.on('coord:drained', () => logger.info({ event: 'coord:drained' }, 'coordinator drained')),
    events.on('coord:stopped', () => logger.info({ event: 'coord:stopped' }, 'coordinator stopped')),
    events.on('coord:reopened', () => logger.info({ event: 'coord:reopened' }, 'coordinator reopened')),
    events.on('coord:all-settled', ({ complete, failed, cancelled }) =>
      logger.info({ event: 'coord:all-settled', complete, failed, cancelled }, 'every task settled'),
    ),
    events.on('coord:worker-joined', ({ workerId, capabilities, maxConcurrency }) =>
      logger.info({ event: 'coord:worker-joined', workerId, capabilities, maxConcurrency }, 'worker joined'),
    ),
    events.on('coord:worker-left', ({ workerId, reason }) => {
      const fields = { event: 'coord:worker-left', workerId, reason };
      if (reason === 'lease expired')
        logger.warn(fields, 'worker lease expired; its tasks go back to the queue');
      else logger.info(fields, 'worker left');
    }),
    events.on('coord:task-failed', ({ task }) =>
      logger.warn(
        {
          event: 'coord:task-failed',
          taskId: task.id,
          workerId: task.workerId,
          attempt: task.attempt,
          error: task.error,
        },
        'task failed',
      ),
    ),
    events.on('coord:task-requeued', ({ task, reason }) =>
      logger.info(
        {
          event: 'coord:task-requeued',
          taskId: task.id,
          workerId: task.workerId,
          attempt: task.attempt,
          reason,
        },
        'task requeued',
      ),
    ),
    events.on('coord:budget-warning', (b) =>
      logger.warn({ event: 'coord:budget-warning', ...b }, `${b.scope} budget at 80 %`),
    ),
    events.on('coord:budget-exceeded', (b) =>
      logger.warn({ event: 'coord:budget-exceeded', ...b }, `${b.scope} budget exceeded`),
    ),
  ];
  if (logger.isLevelEnabled('debug')) {
    for (const kind of ['coord:task-added', 'coord:task-started', 'coord:task-complete'] as const) {
      offs.push(
        events.on(kind, ({ task }) =>
          logger.debug({ event: kind, taskId: task.id, workerId: task.workerId }, kind),
        ),
      );
    }
    offs.push(
      events.on('coord:assigned', ({ task, workerId }) =>
        logger.debug(
          { event: 'coord:assigned', taskId: task.id, workerId, attempt: task.attempt },
          'task assigned',
        ),
      ),
      events.on('coord:task-cancelled', ({ task, cause }) =>
        logger.debug({ event: 'coord:task-cancelled', taskId: task.id, cause }, 'task cancelled'),
      ),
    );
  }
  return () => {
    for (const off of offs) off();
  };
}
