import type { JsonObject } from '@bufbuild/protobuf';
import * as fc from 'fast-check';
import type { BadField, Op, SettledStatus, SpecCase, Status } from './task-model.js';

/**
 * Operator requests as the model knows them. Ids come from a small pool, so that deps, duplicates,
 * cycles and reused ids happen often; the pool holds ids that are awkward on some wire (a slash,
 * `?` and `#`, `%`, a route's own word, unicode, the longest id allowed).
 */
export const ID_POOL: readonly string[] = [
  'a',
  'b',
  'c',
  'd',
  'e',
  'batch',
  'purge',
  'é 任务 🚀',
  'q?x=1&y#h',
  '100%',
  'a/b',
  ' lead',
  'L'.repeat(256),
];

/** Values every protocol can carry and the contract refuses, field by field. */
export const BAD_FIELDS: readonly BadField[] = [
  { field: 'id', value: '', label: 'empty id' },
  { field: 'id', value: 'nul\u0000id', label: 'NUL in id' },
  { field: 'id', value: 'lone\ud800', label: 'lone surrogate in id' },
  { field: 'id', value: 'rep\ufffd', label: 'U+FFFD in id' },
  { field: 'id', value: 'x'.repeat(257), label: '257-character id' },
  { field: 'id', value: '   ', label: 'blank id' },
  { field: 'id', value: 'del\u007f', label: 'DEL in id' },
  { field: 'priority', value: 0.5, label: 'priority 0.5' },
  { field: 'priority', value: 1e20, label: 'priority 1e20' },
  { field: 'priority', value: Number.NaN, label: 'priority NaN' },
  { field: 'priority', value: Number.POSITIVE_INFINITY, label: 'priority Infinity' },
  { field: 'priority', value: 2 ** 31, label: 'priority 2^31' },
  { field: 'category', value: 'tab\tcat', label: 'control character in category' },
  { field: 'category', value: 'c'.repeat(257), label: '257-character category' },
  { field: 'deps', value: [''], label: 'empty dep id' },
  { field: 'maxAttempts', value: 0, label: 'maxAttempts 0' },
  { field: 'delayMs', value: -1, label: 'delayMs -1' },
  { field: 'delayMs', value: 1.5, label: 'delayMs 1.5' },
  { field: 'paths', value: ['/etc/passwd'], label: 'absolute path' },
  { field: 'paths', value: ['src/../..'], label: 'path with ..' },
  { field: 'paths', value: ['src/[ab]'], label: 'character class in path' },
  { field: 'metadata', value: nested(40), label: 'metadata 40 deep' },
  { field: 'metadata', value: { blob: 'm'.repeat(70 * 1024) }, label: 'metadata of 70 KiB' },
  { field: 'retryBackoff', value: { multiplier: 0.5 }, label: 'retryBackoff.multiplier 0.5' },
];

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { in: value };
  return value;
}

/** JSON as every wire carries it alike: no -0 (JSON text has none). */
function plain(value: unknown): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

const metadataArb: fc.Arbitrary<JsonObject> = fc
  .dictionary(
    fc.string({ unit: 'grapheme', maxLength: 6 }).filter((k) => k !== '__proto__'),
    fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' }),
    { maxKeys: 3 },
  )
  .map((m) => plain(m) as JsonObject);

/** Mostly the first few, so that requests often meet tasks that exist. */
const idArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...ID_POOL.slice(0, 3)) },
  { weight: 2, arbitrary: fc.constantFrom(...ID_POOL.slice(3)) },
);

const goodSpecArb: fc.Arbitrary<SpecCase> = fc.record({
  id: idArb,
  deps: fc.oneof(fc.constant([]), fc.array(idArb, { maxLength: 2 }), fc.array(idArb, { maxLength: 4 })),
  priority: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(2147483647, -2147483648)),
  category: fc.constantFrom('', 'gpu', 'ünï-côdé'),
  metadata: fc.oneof(fc.constant({}), metadataArb),
});

export const specArb: fc.Arbitrary<SpecCase> = fc.oneof(
  { weight: 4, arbitrary: goodSpecArb },
  {
    weight: 1,
    arbitrary: fc.tuple(goodSpecArb, fc.constantFrom(...BAD_FIELDS)).map(([s, bad]) => ({ ...s, bad })),
  },
);

/**
 * Tasks a run starts with, added before its requests so that those meet a graph: a, b, c and d,
 * each depending on some of those before it.
 */
export const seedGraphArb: fc.Arbitrary<SpecCase[]> = fc
  .tuple(fc.subarray(['a']), fc.subarray(['a', 'b']), fc.subarray(['a', 'b', 'c']), metadataArb)
  .map(([b, c, d, metadata]) => [
    { id: 'a', deps: [], priority: 0, category: '', metadata },
    { id: 'b', deps: b, priority: 1, category: 'gpu', metadata: {} },
    { id: 'c', deps: c, priority: -1, category: '', metadata: {} },
    { id: 'd', deps: d, priority: 0, category: 'ünï-côdé', metadata: {} },
  ]);

const STATUSES: readonly Status[] = ['pending', 'assigned', 'running', 'complete', 'failed', 'cancelled'];
const SETTLED: readonly SettledStatus[] = ['complete', 'failed', 'cancelled'];

/** Any operator request, mutating ones most often; stop is rare (about one run in eight), since it ends a run's changes. */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 24, arbitrary: specArb.map((spec) => ({ kind: 'add', spec }) as const) },
  {
    weight: 12,
    arbitrary: fc.array(specArb, { maxLength: 4 }).map((specs) => ({ kind: 'batch', specs }) as const),
  },
  { weight: 12, arbitrary: idArb.map((id) => ({ kind: 'cancel', id }) as const) },
  { weight: 12, arbitrary: idArb.map((id) => ({ kind: 'retry', id }) as const) },
  { weight: 8, arbitrary: idArb.map((id) => ({ kind: 'delete', id }) as const) },
  {
    weight: 4,
    arbitrary: fc
      .record({ before: fc.constantFrom('past', 'future'), statuses: fc.subarray([...SETTLED]) })
      .map((p) => ({ kind: 'purge', ...p }) as const),
  },
  { weight: 8, arbitrary: idArb.map((id) => ({ kind: 'get', id }) as const) },
  {
    weight: 4,
    arbitrary: fc
      .record({
        statuses: fc.subarray([...STATUSES], { maxLength: 2 }),
        limit: fc.integer({ min: 0, max: 1000 }),
      })
      .map((l) => ({ kind: 'list', ...l }) as const),
  },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom('status', 'progress', 'costs', 'rate-limit')
      .map((what) => ({ kind: 'read', what }) as const),
  },
  { weight: 4, arbitrary: fc.constantFrom('start', 'drain').map((kind) => ({ kind }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' } as const) },
);

/** The spec as a JSON-shaped object, its bad field (if any) in place. */
export function specObject(spec: SpecCase): Record<string, unknown> {
  const { bad, ...fields } = spec;
  return bad === undefined ? { ...fields } : { ...fields, [bad.field]: bad.value };
}

/** A short name of an op for failure messages. */
export function describeOp(op: Op): string {
  const spec = (s: SpecCase) =>
    `${JSON.stringify(s.id).slice(0, 40)}${s.deps.length > 0 ? `←[${s.deps.join(',')}]` : ''}${s.bad === undefined ? '' : ` (${s.bad.label})`}`;
  switch (op.kind) {
    case 'add':
      return `add ${spec(op.spec)}`;
    case 'batch':
      return `batch [${op.specs.map(spec).join('; ')}]`;
    case 'cancel':
    case 'retry':
    case 'delete':
    case 'get':
      return `${op.kind} ${JSON.stringify(op.id).slice(0, 40)}`;
    case 'purge':
      return `purge before ${op.before} [${op.statuses.join(',')}]`;
    case 'list':
      return `list [${op.statuses.join(',')}] limit ${op.limit}`;
    case 'read':
      return `read ${op.what}`;
    default:
      return op.kind;
  }
}
