import { invalidArgument } from './errors.js';
import type { EventBus } from './event-bus.js';
import type { BudgetScope, CoordEvents } from './events.js';

/** Share of a budget at which `coord:budget-warning` fires (spend ≥ 80 % of the budget). */
export const WARNING_THRESHOLD = 0.8;

/** How many report ids per worker are remembered to drop repeats. */
export const RECENT_REPORTS = 1024;

/**
 * Money is kept in integer micro-dollars: a total is then the exact sum of the recorded amounts,
 * each rounded once to the nearest micro-dollar, instead of drifting with every float addition.
 */
const MICROS_PER_USD = 1_000_000;

export interface CostAggregatorOptions {
  /** Fleet-wide budget in USD: finite and > 0, or undefined for unlimited. */
  readonly globalBudgetUsd?: number | undefined;
  /** Budget of each worker in USD: finite and > 0, or undefined for unlimited. */
  readonly perWorkerBudgetUsd?: number | undefined;
  readonly events?: EventBus<CoordEvents> | undefined;
  /** State to start from, as returned by `snapshot()`. */
  readonly initial?: CostSnapshot | undefined;
}

export interface CostRecord {
  /**
   * Makes the record idempotent: a repeat of a recent id for the same worker (a report resent
   * after a lost ack) is counted once. The last `RECENT_REPORTS` ids per worker are remembered.
   */
  readonly reportId?: string | undefined;
  /** Rounded to the nearest micro-dollar. */
  readonly totalUsd: number;
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
}

export interface BudgetScopeStatus {
  readonly spentUsd: number;
  /** Null when unlimited. */
  readonly budgetUsd: number | null;
  /** Never negative; null when unlimited. */
  readonly remainingUsd: number | null;
  /** Spend ≥ WARNING_THRESHOLD × budget. */
  readonly warning: boolean;
  /** Spend ≥ budget: reaching the budget exactly leaves nothing to spend, so it counts as exceeded. */
  readonly exceeded: boolean;
}

export interface BudgetCheck {
  /** False once the worker's or the global budget is exceeded. */
  readonly allowed: boolean;
  readonly worker: BudgetScopeStatus;
  readonly global: BudgetScopeStatus;
}

export interface CostTotals {
  readonly spentUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface CostStatus extends CostTotals {
  readonly budgets: { readonly globalUsd: number | null; readonly perWorkerUsd: number | null };
  readonly global: BudgetScopeStatus;
  readonly workers: readonly (CostTotals & {
    readonly workerId: string;
    readonly budget: BudgetScopeStatus;
  })[];
}

export interface FlagState {
  /** Whether `coord:budget-warning` / `coord:budget-exceeded` was emitted for this scope. */
  readonly warned: boolean;
  readonly exceeded: boolean;
}

/** One worker's spend as a snapshot holds it, report ids aside. */
export interface CostAccountSnapshot extends FlagState {
  readonly workerId: string;
  readonly spentMicroUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** Plain JSON. Global totals are not stored: they are by definition the sums over the workers. */
export interface CostSnapshot {
  readonly version: 1;
  readonly global: FlagState;
  readonly workers: readonly (CostAccountSnapshot & {
    /** Oldest first. Absent in snapshots from before report ids existed. */
    readonly recentReportIds?: readonly string[];
  })[];
}

/**
 * What the fleet has spent, per worker and in total, against optional budgets. Each budget event
 * fires once per scope (per worker, and once globally); the once-only flags are in the snapshot so
 * a restart neither forgets a budget nor repeats a warning.
 */
export interface CostAggregator {
  /**
   * Adds a worker's spend and returns the budget check after it. Spend is recorded even past a
   * budget (it has happened); `allowed` tells the worker to stop. Crossing both thresholds at once
   * emits the warning, then the exceeded event, for the worker scope, then the global one.
   * Throws `invalid-argument` (state unchanged) for an empty `workerId` or an amount that is
   * negative or not finite (token counts must also be integers).
   */
  record(workerId: string, cost: CostRecord): BudgetCheck;
  checkBudget(workerId: string): BudgetCheck;
  status(): CostStatus;
  /** Forgets all spend and re-arms every warning. */
  reset(): void;
  snapshot(): CostSnapshot;
  /**
   * What `snapshot()` says of one worker, without its report ids (undefined if it never reported),
   * and of the global flags: a store that writes only what changed reads these, O(1) each.
   */
  accountOf(workerId: string): CostAccountSnapshot | undefined;
  globalFlags(): FlagState;
  /** Whether `reportId` is among the worker's remembered report ids (a repeat would be dropped). */
  remembers(workerId: string, reportId: string): boolean;
  /**
   * Replaces all state. A flag stays set only while spend is still past its threshold under the
   * current budgets, so raising a budget re-arms its events.
   */
  restore(snapshot: CostSnapshot): void;
}

interface Account {
  /** Recent report ids, oldest first, for dropping repeats. */
  readonly recent: Set<string>;
  spentMicros: number;
  inputTokens: number;
  outputTokens: number;
  warned: boolean;
  exceeded: boolean;
}

interface Budget {
  readonly micros: number;
  readonly warnAtMicros: number;
}

const newAccount = (): Account => ({
  recent: new Set(),
  spentMicros: 0,
  inputTokens: 0,
  outputTokens: 0,
  warned: false,
  exceeded: false,
});

/** What a worker that never reported has spent: read by checks, never stored or changed. */
const NO_SPEND: Readonly<Account> = Object.freeze(newAccount());

const budgetOf = (usd: number | undefined, field: string): Budget | null => {
  if (usd === undefined) return null;
  const micros = Math.round(usd * MICROS_PER_USD);
  if (!Number.isFinite(usd) || usd <= 0 || micros < 1 || !Number.isSafeInteger(micros)) {
    throw invalidArgument(`${field} must be a positive amount of at least one micro-dollar, got ${usd}`, {
      field,
    });
  }
  return { micros, warnAtMicros: Math.round(micros * WARNING_THRESHOLD) };
};

const toUsd = (micros: number): number => micros / MICROS_PER_USD;

const scopeStatus = (account: Readonly<Account>, budget: Budget | null): BudgetScopeStatus => ({
  spentUsd: toUsd(account.spentMicros),
  budgetUsd: budget === null ? null : toUsd(budget.micros),
  remainingUsd: budget === null ? null : toUsd(Math.max(0, budget.micros - account.spentMicros)),
  warning: budget !== null && account.spentMicros >= budget.warnAtMicros,
  exceeded: budget !== null && account.spentMicros >= budget.micros,
});

const tokenCount = (value: number | undefined, field: string): number => {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`${field} must be a non-negative integer, got ${value}`, { field });
  }
  return value;
};

export function createCostAggregator(options: CostAggregatorOptions = {}): CostAggregator {
  const globalBudget = budgetOf(options.globalBudgetUsd, 'globalBudgetUsd');
  const workerBudget = budgetOf(options.perWorkerBudgetUsd, 'perWorkerBudgetUsd');
  const { events } = options;
  let total = newAccount();
  const accounts = new Map<string, Account>();

  const checkWorkerId = (workerId: string): void => {
    if (typeof workerId !== 'string' || workerId.length === 0) {
      throw invalidArgument('workerId must be a non-empty string', { field: 'workerId' });
    }
  };

  const check = (account: Readonly<Account>): BudgetCheck => {
    const worker = scopeStatus(account, workerBudget);
    const global = scopeStatus(total, globalBudget);
    return { allowed: !worker.exceeded && !global.exceeded, worker, global };
  };

  /** Emits what this scope newly crossed, each at most once. */
  const announce = (account: Account, budget: Budget | null, scope: BudgetScope, workerId: string): void => {
    if (budget === null) return;
    const payload = () => ({
      scope,
      ...(scope === 'worker' ? { workerId } : {}),
      spentUsd: toUsd(account.spentMicros),
      budgetUsd: toUsd(budget.micros),
    });
    if (!account.warned && account.spentMicros >= budget.warnAtMicros) {
      account.warned = true;
      events?.emit('coord:budget-warning', payload());
    }
    if (!account.exceeded && account.spentMicros >= budget.micros) {
      account.exceeded = true;
      events?.emit('coord:budget-exceeded', payload());
    }
  };

  /** Keeps a restored flag only while spend is still past its threshold under today's budget. */
  const rearm = (account: Account, budget: Budget | null): void => {
    account.warned &&= budget !== null && account.spentMicros >= budget.warnAtMicros;
    account.exceeded &&= budget !== null && account.spentMicros >= budget.micros;
  };

  const restore = (snapshot: CostSnapshot): void => {
    if (snapshot?.version !== 1) {
      throw invalidArgument('unsupported cost snapshot version', { field: 'snapshot' });
    }
    accounts.clear();
    total = { ...newAccount(), warned: snapshot.global.warned, exceeded: snapshot.global.exceeded };
    for (const w of snapshot.workers) {
      const account: Account = {
        recent: new Set(w.recentReportIds ?? []),
        spentMicros: w.spentMicroUsd,
        inputTokens: w.inputTokens,
        outputTokens: w.outputTokens,
        warned: w.warned,
        exceeded: w.exceeded,
      };
      rearm(account, workerBudget);
      accounts.set(w.workerId, account);
      total.spentMicros += account.spentMicros;
      total.inputTokens += account.inputTokens;
      total.outputTokens += account.outputTokens;
    }
    rearm(total, globalBudget);
  };

  if (options.initial !== undefined) restore(options.initial);

  return {
    record(workerId, cost) {
      checkWorkerId(workerId);
      const { totalUsd } = cost;
      const micros = Math.round(totalUsd * MICROS_PER_USD);
      if (typeof totalUsd !== 'number' || !(totalUsd >= 0) || !Number.isSafeInteger(micros)) {
        throw invalidArgument(`totalUsd must be a non-negative finite amount, got ${totalUsd}`, {
          field: 'totalUsd',
        });
      }
      const inputTokens = tokenCount(cost.inputTokens, 'inputTokens');
      const outputTokens = tokenCount(cost.outputTokens, 'outputTokens');

      const { reportId } = cost;
      if (reportId !== undefined && typeof reportId !== 'string') {
        throw invalidArgument('reportId must be a string', { field: 'reportId' });
      }
      let account = accounts.get(workerId);
      if (account === undefined) {
        account = newAccount();
        accounts.set(workerId, account);
      }
      if (reportId !== undefined && reportId !== '') {
        if (account.recent.has(reportId)) return check(account);
        account.recent.add(reportId);
        if (account.recent.size > RECENT_REPORTS)
          account.recent.delete(account.recent.values().next().value as string);
      }
      for (const a of [account, total]) {
        a.spentMicros += micros;
        a.inputTokens += inputTokens;
        a.outputTokens += outputTokens;
      }
      announce(account, workerBudget, 'worker', workerId);
      announce(total, globalBudget, 'global', workerId);
      return check(account);
    },

    checkBudget(workerId) {
      checkWorkerId(workerId);
      return check(accounts.get(workerId) ?? NO_SPEND);
    },

    status() {
      const totals = (a: Account): CostTotals => ({
        spentUsd: toUsd(a.spentMicros),
        inputTokens: a.inputTokens,
        outputTokens: a.outputTokens,
      });
      return {
        ...totals(total),
        budgets: {
          globalUsd: globalBudget === null ? null : toUsd(globalBudget.micros),
          perWorkerUsd: workerBudget === null ? null : toUsd(workerBudget.micros),
        },
        global: scopeStatus(total, globalBudget),
        workers: Array.from(accounts, ([workerId, a]) => ({
          workerId,
          ...totals(a),
          budget: scopeStatus(a, workerBudget),
        })),
      };
    },

    reset() {
      accounts.clear();
      total = newAccount();
    },

    snapshot() {
      return {
        version: 1,
        global: { warned: total.warned, exceeded: total.exceeded },
        workers: Array.from(accounts, ([workerId, a]) => ({
          workerId,
          spentMicroUsd: a.spentMicros,
          recentReportIds: [...a.recent],
          inputTokens: a.inputTokens,
          outputTokens: a.outputTokens,
          warned: a.warned,
          exceeded: a.exceeded,
        })),
      };
    },

    accountOf(workerId) {
      const a = accounts.get(workerId);
      if (a === undefined) return undefined;
      return {
        workerId,
        spentMicroUsd: a.spentMicros,
        inputTokens: a.inputTokens,
        outputTokens: a.outputTokens,
        warned: a.warned,
        exceeded: a.exceeded,
      };
    },

    globalFlags: () => ({ warned: total.warned, exceeded: total.exceeded }),

    remembers: (workerId, reportId) => accounts.get(workerId)?.recent.has(reportId) === true,

    restore,
  };
}
