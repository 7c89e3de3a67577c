import * as fc from 'fast-check';
import type { Expectation } from './fuzz-run.js';

/**
 * JSON text for the wire: like JSON.stringify, but the numbers JSON has no word for are written as
 * proto3 JSON writes them ("NaN", "Infinity"), so they reach the server as the value they are.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
}

/** One change to a JSON request: to the object before it is written, or to the text after. */
export interface JsonMutation {
  readonly label: string;
  readonly expect: Expectation;
  readonly object?: (body: Record<string, unknown>) => Record<string, unknown>;
  readonly text?: (text: string) => string;
}

/** A value of the wrong JSON type for each kind of field. */
const WRONG_TYPES: Readonly<Record<string, readonly unknown[]>> = {
  id: [5, true, {}, ['a'], null],
  deps: ['a', { a: 1 }, [1], [null], [['a']]],
  priority: [true, {}, [1], '1e400', 'seven'],
  category: [5, {}, ['gpu']],
  metadata: [[], 'm', 5, true],
  maxAttempts: ['three', -1, 1.5, 2 ** 32, {}],
  reason: [5, {}, ['why']],
  finishedBefore: ['yesterday', 5, {}, '2026-13-45T99:00:00Z'],
  status: [['bogus'], 'complete', [99], [{}]],
  tasks: [{}, 'a', [5], [null], [[]]],
};

/** A JSON text nested deeper than any parser's stack: `[[[[...]]]]`. */
const DEEP_JSON = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

/** Replaces `field` in the body, or in its first task/spec when the body wraps one. */
function setField(body: Record<string, unknown>, field: string, value: unknown): Record<string, unknown> {
  if (field in body || !('task' in body || 'tasks' in body)) return { ...body, [field]: value };
  if ('task' in body) return { ...body, task: { ...(body.task as object), [field]: value } };
  const [first, ...rest] = body.tasks as Record<string, unknown>[];
  return first === undefined ? body : { ...body, tasks: [{ ...first, [field]: value }, ...rest] };
}

/** Fields present in a body (or its first spec) that WRONG_TYPES has values for. */
function fieldsOf(body: Record<string, unknown>): string[] {
  const spec = (body.task ?? (Array.isArray(body.tasks) ? body.tasks[0] : undefined)) as
    | Record<string, unknown>
    | undefined;
  return [...Object.keys(body), ...Object.keys(spec ?? {})].filter((f) => f in WRONG_TYPES);
}

/** Mutations of a JSON body: broken text, wrong types, extra fields, nesting no parser survives. */
export function jsonMutationArb(body: Record<string, unknown>): fc.Arbitrary<JsonMutation> {
  const text = jsonText(body);
  const fields = fieldsOf(body);
  const mutations: fc.Arbitrary<JsonMutation>[] = [
    fc.integer({ min: 1, max: Math.max(1, text.length - 1) }).map((n) => ({
      label: `body cut at ${n}`,
      expect: 'reject' as const,
      text: (t: string) => t.slice(0, n),
    })),
    fc.constantFrom('x', '}', ',', '\u0000').map((junk) => ({
      label: `junk ${JSON.stringify(junk)} after the body`,
      expect: 'reject' as const,
      text: (t: string) => t + junk,
    })),
    fc.constantFrom('null', '[]', '"x"', '1', 'true', DEEP_JSON).map((other) => ({
      label: `body ${other.slice(0, 8)}`,
      expect: 'reject' as const,
      text: () => other,
    })),
    // In an unknown field: refused, or ignored as any unknown field may be (Connect ignores them).
    fc.constant({
      label: 'a body nested 100000 deep in a field',
      expect: 'ignorable' as const,
      text: (t: string) => (t.startsWith('{') ? `{"deep":${DEEP_JSON},${t.slice(1)}` : DEEP_JSON),
    }),
    fc.constantFrom('bogus', 'Id', '@type').map((name) => ({
      label: `unknown field ${name}`,
      expect: 'ignorable' as const,
      object: (b: Record<string, unknown>) => ({ ...b, [name]: 1 }),
    })),
    fc.constant({
      label: 'whitespace around the body',
      expect: 'ignorable' as const,
      text: (t: string) => ` \n${t}\t `,
    }),
  ];
  if (fields.length > 0) {
    mutations.push(
      fc.constantFrom(...fields).chain((field) =>
        fc.constantFrom(...(WRONG_TYPES[field] as unknown[])).map((value) => ({
          label: `${field} = ${jsonText(value)}`,
          expect: 'reject' as const,
          object: (b: Record<string, unknown>) => setField(b, field, value),
        })),
      ),
    );
  }
  return fc.oneof(...mutations);
}
