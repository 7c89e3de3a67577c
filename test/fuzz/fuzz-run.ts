import { expect } from 'chai';
import * as fc from 'fast-check';
import type { LiveServer } from './live-server.js';
import { expectPredicted, expectUnchanged, modelOf, type Snapshot } from './state-snapshot.js';
import { type Lifecycle, type Op, type Prediction, predict, type SpecCase } from './task-model.js';

/**
 * What a request must do to the state:
 * - `model`: what the model predicts for its op, accepted or refused as the model says;
 * - `reject`: refused, nothing changed (a broken request whatever its op);
 * - `ignorable`: refused with nothing changed, or accepted with its op's predicted effect (an
 *   unknown field, another content type: the server may take it or leave it, not misread it);
 * - `any`: no prediction (mutated bytes may still spell another valid request): only the checks
 *   on every answer, and the state is read again.
 */
export type Expectation = 'model' | 'reject' | 'ignorable' | 'any';

export interface FuzzCase {
  readonly op: Op;
  readonly expect: Expectation;
  /** For failure messages: the op and how it was mutated. */
  readonly label: string;
  /** The caller may not make this call (its token's role): refused, whatever the model says. */
  readonly forbidden?: boolean;
}

/** A case that fast-check prints by its label: counterexamples stay readable with 100 kB bodies. */
export function labelled<C extends { readonly label: string }>(c: C): C {
  return Object.defineProperty(c, fc.toStringMethod, { value: () => c.label, enumerable: false });
}

/** How a protocol answered; its driver has already checked status, code and leaks. */
export interface Answer {
  readonly accepted: boolean;
  /** Status and a short body, for failure messages. */
  readonly summary: string;
}

/** Sends one case over a protocol, given the lifecycle state it is sent in. */
export type Send<C extends FuzzCase> = (live: LiveServer, c: C, state: Lifecycle) => Promise<Answer>;

const specsOf = (op: Op): ReadonlyMap<string, SpecCase> => {
  const specs = op.kind === 'add' ? [op.spec] : op.kind === 'batch' ? op.specs : [];
  return new Map(specs.map((s) => [s.id, s]));
};

/**
 * With FUZZ_STATS set, how often each op kind was accepted and refused, printed at exit: a fuzz
 * run whose requests are all refused tests little.
 */
const stats = new Map<string, number>();
if (process.env.FUZZ_STATS !== undefined) {
  process.once('exit', () =>
    console.log(
      [...stats]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join('\n'),
    ),
  );
}
export const count = (key: string): void => {
  if (process.env.FUZZ_STATS !== undefined) stats.set(key, (stats.get(key) ?? 0) + 1);
};

/** Sends the cases in order, holding each answer and the state after it to the oracle. */
export async function runCases<C extends FuzzCase>(
  live: LiveServer,
  cases: readonly C[],
  send: Send<C>,
): Promise<void> {
  let before: Snapshot = await live.read();
  for (const [i, c] of cases.entries()) {
    const what = `#${i} ${c.label}`;
    const prediction: Prediction =
      c.forbidden === true ? { verdict: 'reject' } : predict(modelOf(before), c.op);
    const answer = await send(live, c, before.state);
    const after = await live.read();
    const detail = `${what} → ${answer.summary}`;
    count(`${c.op.kind} ${c.expect} ${answer.accepted ? 'accepted' : 'refused'}`);
    if (c.expect === 'reject') expect(answer.accepted, `${detail}: must be refused`).to.equal(false);
    if (c.expect === 'model' || (c.expect === 'ignorable' && answer.accepted)) {
      expect(answer.accepted, `${detail}: the model says ${prediction.verdict}`).to.equal(
        prediction.verdict === 'accept',
      );
    }
    if (c.expect !== 'any') {
      if (answer.accepted && prediction.verdict === 'accept')
        expectPredicted(before, after, prediction, specsOf(c.op), detail);
      else expectUnchanged(before, after, detail);
    }
    before = after;
  }
  await live.expectHealthy(`after ${cases.length} requests`);
}
