import { expect } from 'chai';
import * as fc from 'fast-check';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import type { Answer } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { type HttpCase, sendJsonCase } from './http-send.js';
import type { LiveServer } from './live-server.js';
import { restCaseArb } from './rest-requests.js';
import { modelOf, type Snapshot } from './state-snapshot.js';
import { type Model, predict } from './task-model.js';

const settings = fuzzSettings(20);

/** Every order of `items` (groups here are at most 4 long: 24 orders). */
function orders<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/** What the oracle compares of a graph: ids in order, each task's status, cancelledBy and deps. */
const shape = (model: Model) => ({
  state: model.state,
  tasks: [...model.tasks.values()].map((t) => [t.id, t.status, t.cancelledBy, t.deps.join(',')]),
});

/**
 * Some order of the group's requests, one at a time, explains what the server answered and the
 * state it left: each answer is the model's verdict at its turn, and the model's graph after the
 * last is the graph read back. (Linearizability, checked by trying every order.)
 */
function expectSerializable(
  before: Snapshot,
  after: Snapshot,
  group: readonly HttpCase[],
  answers: readonly Answer[],
  what: string,
): void {
  const want = JSON.stringify(shape(modelOf(after)));
  const tried: string[] = [];
  for (const order of orders(group.map((_, i) => i))) {
    let model = modelOf(before);
    let fits = true;
    for (const i of order) {
      const c = group[i] as HttpCase;
      const prediction = c.expect === 'reject' ? { verdict: 'reject' as const } : predict(model, c.op);
      if ((prediction.verdict === 'accept') !== (answers[i] as Answer).accepted) {
        fits = false;
        break;
      }
      if (prediction.verdict === 'accept') model = prediction.after;
    }
    if (fits && JSON.stringify(shape(model)) === want) return;
    tried.push(order.join(''));
  }
  expect.fail(
    `${what}: no order of [${group.map((c, i) => `${i}: ${c.label} → ${(answers[i] as Answer).summary.slice(0, 80)}`).join('; ')}] explains the answers and the state (tried ${tried.join(' ')})`,
  );
}

/** A group of one to four requests, sent at once; only those whose effect the model knows. */
const groupArb = fc.array(
  restCaseArb.filter((c) => c.expect === 'model' || c.expect === 'reject'),
  { minLength: 1, maxLength: 4 },
);

async function sendGroups(live: LiveServer, groups: readonly (readonly HttpCase[])[]): Promise<void> {
  let before = await live.read();
  for (const [g, group] of groups.entries()) {
    // A stop in the group may turn the others into 503s.
    const state = group.some((c) => c.op.kind === 'stop') ? 'stopped' : before.state;
    const answers = await Promise.all(group.map((c) => sendJsonCase(live, c, state)));
    const after = await live.read();
    expectSerializable(before, after, group, answers, `group ${g}`);
    before = after;
  }
  await live.expectHealthy(`after ${groups.length} groups`);
}

describe('Fuzz: concurrent REST requests', function () {
  fuzzTimeout(this, settings);

  it('answers requests sent together as if they had come one at a time, in some order', () =>
    assertOnLiveServers(settings, groupArb, sendGroups));
});
