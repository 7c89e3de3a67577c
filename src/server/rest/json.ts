// rest/: the REST gateway under /api/coordination, its routes read from the proto annotations.
// Imports src/core, src/gen and codec/ (test/architecture/walls.test.ts).
import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  ScalarType,
  toJson,
} from '@bufbuild/protobuf';
import { JSON_WRITE_OPTIONS } from '../codec/json-rule.js';

/**
 * The seed's word for an enum value: its name without the enum's prefix, lower case, `_` as `-`
 * (`TASK_STATUS_PENDING` → `pending`, `ASSIGNMENT_STRATEGY_ROUND_ROBIN` → `round-robin`).
 */
const enumWord = (localName: string): string => localName.toLowerCase().replaceAll('_', '-');

interface EnumWords {
  /** Canonical name (`TASK_STATUS_PENDING`) → word. */
  readonly toWord: ReadonlyMap<string, string>;
  /** Word → canonical name. */
  readonly fromWord: ReadonlyMap<string, string>;
}

const wordTables = new WeakMap<DescEnum, EnumWords>();

function wordsOf(desc: DescEnum): EnumWords {
  let words = wordTables.get(desc);
  if (words === undefined) {
    const toWord = new Map<string, string>();
    const fromWord = new Map<string, string>();
    for (const value of desc.values) {
      const word = enumWord(value.localName);
      toWord.set(value.name, word);
      fromWord.set(word, value.name);
    }
    words = { toWord, fromWord };
    wordTables.set(desc, words);
  }
  return words;
}

/**
 * Words some enums also accept in requests: event kinds by their `coord:*` event names
 * (`?kinds=coord:task-failed`), the names the seed's clients already use.
 */
const WORD_PREFIX: Readonly<Record<string, string>> = { 'coord.v1.EventKind': 'coord:' };

/** The name of an enum word where the seed had one: `coord:task-complete`; otherwise the word. */
export const eventName = (desc: DescEnum, word: string): string =>
  `${WORD_PREFIX[desc.typeName] ?? ''}${word}`;

/**
 * Well-known types have their own JSON (Struct and Value are user data, Timestamp a string):
 * the walk never enters them, so nothing a user wrote is ever rewritten.
 */
const opaque = (message: DescMessage): boolean => message.typeName.startsWith('google.protobuf.');

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

type Convert = (desc: DescEnum, value: JsonValue) => JsonValue;

/** The keys a field may appear under: its JSON name and, in requests, its proto name too. */
type KeysOf = (field: DescField) => readonly string[];

/**
 * Rewrites, in place, every enum value of a message's JSON — singular, repeated, map values, in
 * nested messages and oneofs — following the descriptor, not the shape of the data.
 */
function walkEnums(schema: DescMessage, json: JsonValue, keysOf: KeysOf, convert: Convert): void {
  if (!isObject(json)) return;
  for (const field of schema.fields) {
    for (const key of keysOf(field)) {
      const value = json[key];
      if (value === undefined || value === null) continue;
      switch (field.fieldKind) {
        case 'enum':
          json[key] = convert(field.enum, value);
          break;
        case 'message':
          if (!opaque(field.message)) walkEnums(field.message, value, keysOf, convert);
          break;
        case 'list':
          if (!Array.isArray(value)) break;
          if (field.listKind === 'enum') {
            for (const [i, v] of value.entries()) value[i] = convert(field.enum, v);
          } else if (field.listKind === 'message' && !opaque(field.message)) {
            for (const v of value) walkEnums(field.message, v, keysOf, convert);
          }
          break;
        case 'map':
          if (!isObject(value)) break;
          for (const [k, v] of Object.entries(value)) {
            if (field.mapKind === 'enum') value[k] = convert(field.enum, v);
            else if (field.mapKind === 'message' && !opaque(field.message))
              walkEnums(field.message, v, keysOf, convert);
          }
          break;
        default:
          break;
      }
    }
  }
}

const jsonKey: KeysOf = (field) => [field.jsonName];
const eitherKey: KeysOf = (field) =>
  field.jsonName === field.name ? [field.name] : [field.jsonName, field.name];

/**
 * Proto JSON of a message with every enum as the seed's word: what the REST routes answer, and
 * what `baton ... --json` prints, so a script reads the same shape from either.
 */
export const restJson = (schema: DescMessage, message: unknown): JsonValue =>
  enumsToWords(schema, toJson(schema, create(schema, message as never), JSON_WRITE_OPTIONS));

/** Response JSON (from `toJson`): canonical enum names become the seed's words, in place. */
export function enumsToWords(schema: DescMessage, json: JsonValue): JsonValue {
  walkEnums(schema, json, jsonKey, (desc, value) =>
    typeof value === 'string' ? (wordsOf(desc).toWord.get(value) ?? value) : value,
  );
  return json;
}

/**
 * Request JSON (for `fromJson`): the seed's words become canonical names, in place; canonical
 * names and numbers pass through, and anything else is left for `fromJson` to refuse.
 */
export function wordsToEnums(schema: DescMessage, json: JsonValue): JsonValue {
  walkEnums(schema, json, eitherKey, (desc, value) => {
    if (typeof value !== 'string') return value;
    const prefix = WORD_PREFIX[desc.typeName];
    const word = prefix !== undefined && value.startsWith(prefix) ? value.slice(prefix.length) : value;
    return wordsOf(desc).fromWord.get(word) ?? value;
  });
  return json;
}

/** A request the gateway cannot map onto the RPC: answered 400 with this message (and field). */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function fieldAt(schema: DescMessage, path: string): DescField | undefined {
  const [head = '', ...rest] = path.split('.');
  const field = schema.fields.find((f) => f.name === head || f.jsonName === head);
  if (field === undefined || rest.length === 0) return field;
  return field.fieldKind === 'message' && !opaque(field.message)
    ? fieldAt(field.message, rest.join('.'))
    : undefined;
}

function queryScalar(field: DescField, name: string, raw: string): JsonValue {
  if (field.fieldKind === 'enum' || (field.fieldKind === 'list' && field.listKind === 'enum')) {
    checkEnum(field.enum, raw, name);
    return raw;
  }
  if (field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')) {
    if (field.scalar === ScalarType.BOOL) {
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new BadRequest(`query parameter ${name} must be true or false, got "${raw}"`, name);
    }
  }
  // Numbers stay strings: proto3 JSON parses integers (64-bit too) and floats from strings.
  return raw;
}

/**
 * Query parameters as request JSON: `worker_id` and `workerId` both name the field, repeated
 * fields take repeated parameters (repeated enums also `a,b`), `a.b` reaches into a message.
 * Fields bound elsewhere (path variables, the body) cannot be set again here.
 */
export function queryToJson(
  schema: DescMessage,
  params: URLSearchParams,
  bound: (field: DescField) => boolean,
): JsonObject {
  const json: JsonObject = {};
  const seen = new Map<DescField, string>();
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    const field = fieldAt(schema, name);
    const top = fieldAt(schema, name.split('.')[0] ?? '');
    if (field === undefined || top === undefined)
      throw new BadRequest(`unknown query parameter ${name} for ${schema.typeName}`, name);
    if (bound(top))
      throw new BadRequest(`query parameter ${name} is already given by the path or the body`, name);
    const other = seen.get(field);
    if (other !== undefined)
      throw new BadRequest(`query parameters ${other} and ${name} name the same field`);
    seen.set(field, name);
    if (field.fieldKind === 'map' || (field.fieldKind === 'message' && !opaque(field.message)))
      throw new BadRequest(`query parameter ${name} cannot take a message; name its fields (${name}.x)`);
    let value: JsonValue;
    if (field.fieldKind === 'list') {
      if (field.listKind === 'message' && !opaque(field.message))
        throw new BadRequest(`query parameter ${name} cannot take messages`);
      const items = field.listKind === 'enum' ? values.flatMap((v) => v.split(',')) : values;
      value = items.map((v) => queryScalar(field, name, v));
    } else {
      if (values.length > 1) throw new BadRequest(`query parameter ${name} is given more than once`);
      value = queryScalar(field, name, values[0] ?? '');
    }
    setPath(schema, json, name, value);
  }
  return json;
}

/** Sets `a.b.c` in request JSON, creating the objects on the way, under the fields' JSON names. */
export function setPath(schema: DescMessage, json: JsonObject, path: string, value: JsonValue): void {
  const [head = '', ...rest] = path.split('.');
  const field = schema.fields.find((f) => f.name === head || f.jsonName === head);
  if (field === undefined) throw new BadRequest(`unknown field ${head} in ${schema.typeName}`);
  // Drop a spelling under the other name so the value set here is the only one.
  if (field.name !== field.jsonName) delete json[field.name];
  if (rest.length === 0) {
    json[field.jsonName] = value;
    return;
  }
  if (field.fieldKind !== 'message') throw new BadRequest(`${head} in ${schema.typeName} is not a message`);
  const inner = json[field.jsonName];
  const child: JsonObject = isObject(inner) ? inner : {};
  json[field.jsonName] = child;
  setPath(field.message, child, rest.join('.'), value);
}

/** 64-bit integers are JSON strings in proto3 JSON; every other number is a JSON number. */
const QUOTED_64 = new Set<ScalarType>([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

/** The 32-bit integers' ranges: proto3 JSON refuses anything outside, without saying where. */
const RANGE_32: ReadonlyMap<ScalarType, readonly [number, number]> = new Map([
  [ScalarType.INT32, [-(2 ** 31), 2 ** 31 - 1]],
  [ScalarType.SINT32, [-(2 ** 31), 2 ** 31 - 1]],
  [ScalarType.SFIXED32, [-(2 ** 31), 2 ** 31 - 1]],
  [ScalarType.UINT32, [0, 2 ** 32 - 1]],
  [ScalarType.FIXED32, [0, 2 ** 32 - 1]],
]);

/** A UTF-16 surrogate alone: what a JSON `"\ud800"` decodes to, and no Unicode text at all. */
const LONE_SURROGATE = /\p{Cs}/u;

function refuse(where: string, what: string): never {
  throw new BadRequest(`${where} ${what}`, where);
}

function checkScalar(scalar: ScalarType, v: JsonValue, where: string): void {
  switch (scalar) {
    case ScalarType.STRING:
      if (typeof v !== 'string') refuse(where, `must be a string, not ${describe(v)}`);
      else if (LONE_SURROGATE.test(v)) refuse(where, 'must be valid UTF-8 text');
      return;
    case ScalarType.BYTES:
      if (typeof v !== 'string') refuse(where, `must be a base64 string, not ${describe(v)}`);
      return;
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') refuse(where, `must be true or false, not ${describe(v)}`);
      return;
    default:
      break;
  }
  if (QUOTED_64.has(scalar)) {
    // proto3 JSON writes these as strings (beyond 2^53 a number loses digits); either is read.
    const whole = typeof v === 'string' ? /^-?\d+$/.test(v) : Number.isInteger(v);
    if (!whole) refuse(where, `must be a whole number (or one as a string), not ${describe(v)}`);
    return;
  }
  if (typeof v === 'string') refuse(where, `must be a JSON number, not the string "${v.slice(0, 40)}"`);
  if (typeof v !== 'number') refuse(where, `must be a number, not ${describe(v)}`);
  const range = RANGE_32.get(scalar);
  if (range === undefined) return;
  if (!Number.isInteger(v)) refuse(where, `must be a whole number, not ${v}`);
  if ((v as number) < range[0] || (v as number) > range[1])
    refuse(where, `must be from ${range[0]} to ${range[1]}, not ${v}`);
}

function checkEnum(desc: DescEnum, v: JsonValue, where: string): void {
  if (typeof v === 'number' && Number.isInteger(v)) return;
  const words = wordsOf(desc);
  if (typeof v === 'string') {
    const prefix = WORD_PREFIX[desc.typeName];
    const word = prefix !== undefined && v.startsWith(prefix) ? v.slice(prefix.length) : v;
    if (words.fromWord.has(word) || words.toWord.has(v)) return;
  }
  refuse(where, `must be one of ${[...words.fromWord.keys()].join(', ')}, not ${describe(v)}`);
}

/** A JSON value as a refusal quotes it: short, and saying what kind of value it is. */
function describe(v: JsonValue): string {
  if (typeof v === 'string') return `the string "${v.slice(0, 40)}"`;
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** What one value of a field (a list's item, a map's value) must be. */
type Element =
  | { readonly scalar: ScalarType }
  | { readonly enum: DescEnum }
  | { readonly message: DescMessage };

function elementOf(field: DescField): Element {
  switch (field.fieldKind) {
    case 'scalar':
      return { scalar: field.scalar };
    case 'enum':
      return { enum: field.enum };
    case 'message':
      return { message: field.message };
    case 'list':
      return field.listKind === 'scalar'
        ? { scalar: field.scalar }
        : field.listKind === 'enum'
          ? { enum: field.enum }
          : { message: field.message };
    case 'map':
      return field.mapKind === 'scalar'
        ? { scalar: field.scalar }
        : field.mapKind === 'enum'
          ? { enum: field.enum }
          : { message: field.message };
  }
}

const RFC_3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** The JSON shape of the well-known types a request may carry, and how a refusal says it. */
const WKT_SHAPES: Readonly<Record<string, readonly [(v: JsonValue) => boolean, string]>> = {
  'google.protobuf.Timestamp': [
    (v) => typeof v === 'string' && RFC_3339.test(v),
    'an RFC 3339 time, e.g. "2026-12-01T00:00:00Z"',
  ],
  'google.protobuf.Duration': [
    (v) => typeof v === 'string' && /^-?\d+(?:\.\d+)?s$/.test(v),
    'a duration, e.g. "1.5s"',
  ],
  'google.protobuf.Struct': [isObject, 'a JSON object'],
  'google.protobuf.ListValue': [Array.isArray, 'a list'],
};

function checkElement(element: Element, v: JsonValue, where: string): void {
  if (v === null) refuse(where, 'must not be null');
  if ('scalar' in element) checkScalar(element.scalar, v, where);
  else if ('enum' in element) checkEnum(element.enum, v, where);
  else if (!opaque(element.message)) checkRequestJson(element.message, v, where);
  else {
    const shape = WKT_SHAPES[element.message.typeName];
    if (shape !== undefined && !shape[0](v)) refuse(where, `must be ${shape[1]}, not ${describe(v)}`);
  }
}

/**
 * Checks request JSON against the message it decodes into, naming the field of the first fault
 * as a path (`tasks[3].priority`), which protobuf-es's `fromJson` does not: an unknown key, a
 * field given under both its names, a value of the wrong kind, an enum word that is not one.
 * Also refuses what proto3 JSON would read but a REST user never means: a number written as a
 * string (`"priority": "7"`; REST answers write these fields as JSON numbers; 64-bit integers
 * may be strings, as proto3 JSON writes them) and a string with a lone surrogate (`"\ud800"`:
 * not text). Well-known types (Struct metadata, Timestamps) are left to `fromJson`.
 */
export function checkRequestJson(schema: DescMessage, json: JsonValue, prefix = ''): void {
  if (!isObject(json))
    refuse(prefix === '' ? 'the request' : prefix, `must be a JSON object, not ${describe(json)}`);
  const at = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
  const seen = new Map<DescField, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = schema.fields.find((f) => f.jsonName === key || f.name === key);
    const where = at(key);
    if (field === undefined) refuse(where, `is not a field of ${schema.typeName}: key "${key}" is unknown`);
    const other = seen.get(field);
    if (other !== undefined) refuse(where, `is the same field as ${at(other)}: give it once`);
    seen.set(field, key);
    if (value === null) continue;
    const element = elementOf(field);
    if (field.fieldKind === 'list') {
      if (!Array.isArray(value)) refuse(where, `must be a list, not ${describe(value)}`);
      for (const [i, v] of value.entries()) checkElement(element, v, `${where}[${i}]`);
    } else if (field.fieldKind === 'map') {
      if (!isObject(value)) refuse(where, `must be an object, not ${describe(value)}`);
      for (const [k, v] of Object.entries(value)) checkElement(element, v, `${where}.${k}`);
    } else {
      checkElement(element, value, where);
    }
  }
}

/**
 * Refuses request JSON (the body, as the request message or the field it fills) that gives a
 * path variable another value than the path: `POST /tasks/a/cancel` with `{"id": "b"}` would
 * otherwise act on one of the two, whichever the gateway let win, and say nothing.
 */
export function refuseContradiction(schema: DescMessage, json: JsonValue, path: string, value: string): void {
  let node: JsonValue | undefined = json;
  let message: DescMessage | undefined = schema;
  const names: string[] = [];
  for (const segment of path.split('.')) {
    const field: DescField | undefined = message?.fields.find(
      (f) => f.name === segment || f.jsonName === segment,
    );
    if (field === undefined || !isObject(node)) return;
    const key = eitherKey(field).find((k) => (node as JsonObject)[k] !== undefined);
    if (key === undefined) return;
    names.push(key);
    node = node[key];
    message = field.fieldKind === 'message' ? field.message : undefined;
  }
  if (node === null || node === value) return;
  const where = names.join('.');
  throw new BadRequest(
    `${where} in the body (${JSON.stringify(node).slice(0, 60)}) contradicts the path (${JSON.stringify(value)}): give it once, in the path`,
    where,
  );
}
