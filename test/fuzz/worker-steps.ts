import * as fc from 'fast-check';

/** Two workers share the fuzzed fleet: `0` is `w0`, `1` is `w1`. */
export type Slot = 0 | 1;

/** Which task a report names, resolved against what the server assigned when the step runs. */
/** `lost`: a task the worker held last and holds no more (an operator cancelled or retried it). */
export type Target = 'mine' | 'theirs' | 'lost' | 'pending' | 'unknown';
export type AttemptChoice = 'current' | 'stale' | 'next';
export type ReportKind = 'started' | 'complete' | 'failed' | 'failed-retryable';
/** A report's seq: a new one, the previous report's again, 0, or uint32's largest. */
export type SeqChoice = 'fresh' | 'reused' | 'zero' | 'max';
export type Forgery = 'garbage' | 'truncated' | 'compressed' | 'huge-length' | 'not-utf8-task';

/** A worker id the proto refuses: empty, too long, a NUL, a lone surrogate. */
export const BAD_WORKER_IDS: readonly string[] = ['', 'w'.repeat(257), 'nul\u0000w', 'lone\ud800', 'tab\tw'];

/** One thing a worker (or an attacker on its stream) does. */
export type Step =
  | { readonly do: 'hello'; readonly w: Slot; readonly maxConcurrency: number }
  | { readonly do: 'bad-hello'; readonly workerId: string }
  | { readonly do: 'before-hello'; readonly first: 'heartbeat' | 'request' | 'complete' }
  | { readonly do: 'again-hello'; readonly w: Slot }
  | {
      readonly do: 'report';
      readonly w: Slot;
      readonly kind: ReportKind;
      readonly target: Target;
      readonly attempt: AttemptChoice;
      readonly batched: boolean;
      readonly twice: boolean;
      readonly seq: SeqChoice;
    }
  | { readonly do: 'cost'; readonly w: Slot; readonly usd: number; readonly tokens: bigint }
  | { readonly do: 'request'; readonly w: Slot; readonly count: number }
  | { readonly do: 'heartbeat'; readonly w: Slot }
  | { readonly do: 'forge'; readonly w: Slot; readonly forgery: Forgery }
  | { readonly do: 'close'; readonly w: Slot }
  /** With tokens: a session with slot w's worker token that says hello as the other worker. */
  | { readonly do: 'impostor'; readonly w: Slot }
  /** An operator's call in the middle of the fleet's work, over gRPC. */
  | { readonly do: 'operator'; readonly action: 'cancel-held' | 'cancel-any' | 'retry' }
  | { readonly do: 'reconnect'; readonly w: Slot };

const slotArb = fc.constantFrom<Slot>(0, 1);

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      do: fc.constant('hello' as const),
      w: slotArb,
      maxConcurrency: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      do: fc.constant('bad-hello' as const),
      workerId: fc.constantFrom(...BAD_WORKER_IDS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      do: fc.constant('before-hello' as const),
      first: fc.constantFrom('heartbeat' as const, 'request' as const, 'complete' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('again-hello' as const), w: slotArb }) },
  {
    weight: 10,
    arbitrary: fc.record({
      do: fc.constant('report' as const),
      w: slotArb,
      kind: fc.constantFrom<ReportKind>('started', 'complete', 'failed', 'failed-retryable'),
      target: fc.constantFrom<Target>('mine', 'mine', 'mine', 'theirs', 'lost', 'pending', 'unknown'),
      attempt: fc.constantFrom<AttemptChoice>('current', 'current', 'current', 'stale', 'next'),
      batched: fc.boolean(),
      twice: fc.boolean(),
      seq: fc.constantFrom<SeqChoice>('fresh', 'fresh', 'reused', 'zero', 'max'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      do: fc.constant('cost' as const),
      w: slotArb,
      usd: fc.oneof(
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY, 1e308, -0),
      ),
      tokens: fc.oneof(fc.bigInt({ min: 0n, max: 10_000n }), fc.constant(2n ** 64n - 1n)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      do: fc.constant('request' as const),
      w: slotArb,
      count: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(2 ** 32 - 1)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('heartbeat' as const), w: slotArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      do: fc.constant('forge' as const),
      w: slotArb,
      forgery: fc.constantFrom<Forgery>('garbage', 'truncated', 'compressed', 'huge-length', 'not-utf8-task'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('close' as const), w: slotArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      do: fc.constant('operator' as const),
      action: fc.constantFrom('cancel-held' as const, 'cancel-any' as const, 'retry' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('reconnect' as const), w: slotArb }) },
);

export function describeStep(step: Step): string {
  const { do: what, ...rest } = step;
  return `${what} ${JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 120)}`;
}

/** The steps of a fleet whose workers hold tokens: any step, or an impostor's hello. */
export const tokenStepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: stepArb },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('impostor' as const), w: slotArb }) },
);
