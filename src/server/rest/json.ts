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
  if (field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')) {
    if (field.scalar === ScalarType.BOOL) {
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new BadRequest(`query parameter ${name} must be true or false, got "${raw}"`);
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
    if (field === undefined || top === undefined || bound(top))
      throw new BadRequest(`unknown query parameter ${name} for ${schema.typeName}`);
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

const isNumeric = (scalar: ScalarType): boolean =>
  scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES && scalar !== ScalarType.BOOL;

/** A UTF-16 surrogate alone: what a JSON `"\ud800"` decodes to, and no Unicode text at all. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Refuses, naming the field, what proto3 JSON would read but a REST user never means: a number
 * written as a string (`"priority": "7"`; REST answers write these fields as JSON numbers; 64-bit
 * integers stay strings, as proto3 JSON writes them) and a string with a lone surrogate
 * (`"\ud800"`: not text, and `fromJson` would refuse it without saying where).
 */
export function refuseLooseJson(schema: DescMessage, json: JsonValue, prefix = ''): void {
  if (!isObject(json)) return;
  const at = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
  for (const field of schema.fields) {
    const scalar =
      field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')
        ? field.scalar
        : undefined;
    const check = (v: JsonValue, where: string) => {
      if (scalar === undefined || typeof v !== 'string') return;
      if (scalar === ScalarType.STRING) {
        if (LONE_SURROGATE.test(v)) throw new BadRequest(`${where} must be valid UTF-8 text`, where);
      } else if (isNumeric(scalar) && !QUOTED_64.has(scalar)) {
        throw new BadRequest(`${where} must be a JSON number, not the string "${v.slice(0, 40)}"`, where);
      }
    };
    for (const key of eitherKey(field)) {
      const value = json[key];
      if (value === undefined || value === null) continue;
      if (field.fieldKind === 'message' && !opaque(field.message)) {
        refuseLooseJson(field.message, value, at(key));
      } else if (field.fieldKind === 'list' && Array.isArray(value)) {
        for (const [i, v] of value.entries()) {
          if (field.listKind === 'message' && !opaque(field.message))
            refuseLooseJson(field.message, v, `${at(key)}[${i}]`);
          else check(v, `${at(key)}[${i}]`);
        }
      } else {
        check(value, at(key));
      }
    }
  }
}
