import type { BudgetScope } from './events.js';
import type { TaskSnapshot } from './task.js';

/**
 * What the coordinator says to one worker: the seed's `coord:*` replies. The server turns each
 * into a message on that worker's stream; in-process pools deliver them as they are.
 */
export type CoordinatorMessage =
  | {
      readonly type: 'coord:proceed';
      readonly task: TaskSnapshot;
      /** When the worker's lease lapses unless it says something before. */
      readonly leaseExpiresAt: number;
    }
  | { readonly type: 'coord:wait'; readonly reason: string }
  | {
      readonly type: 'coord:cancel';
      readonly taskId: string;
      readonly attempt: number;
      readonly reason: string;
    }
  | {
      readonly type: 'coord:rate-grant';
      readonly requestId: string | undefined;
      readonly reservationId: string;
      readonly remaining: RateRemaining;
    }
  | {
      readonly type: 'coord:rate-wait';
      readonly requestId: string | undefined;
      readonly waitMs: number;
      readonly remaining: RateRemaining;
    }
  | {
      readonly type: 'coord:budget-stop';
      readonly scope: BudgetScope;
      readonly spentUsd: number;
      readonly budgetUsd: number;
    }
  | { readonly type: 'coord:drain' }
  | {
      readonly type: 'coord:rejected';
      readonly code: string;
      readonly message: string;
      readonly taskId?: string;
    };

export interface RateRemaining {
  readonly requests: number;
  readonly tokens: number;
}

export type CoordinatorMessageType = CoordinatorMessage['type'];
