// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import { type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { Code, type ConnectError } from '@connectrpc/connect';
import { invalidArgument } from '../../core/errors.js';
import { toConnectError } from './errors.js';

const strict = new TextDecoder('utf-8', { fatal: true });

const isUtf8 = (bytes: Uint8Array): boolean => {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

const stringField = (field: DescField): boolean =>
  (field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')) &&
  field.scalar === ScalarType.STRING;

const messageOf = (field: DescField): DescMessage | undefined =>
  field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message')
    ? field.message
    : undefined;

/** A map entry (key 1, value 2): the entry's path if its key or string value is not UTF-8. */
function mapEntryFault(field: DescField, entry: Uint8Array, path: string): string | undefined {
  if (field.fieldKind !== 'map') return undefined;
  const reader = new BinaryReader(entry);
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, no);
      continue;
    }
    const data = reader.bytes();
    const text = no === 1 ? field.mapKey === ScalarType.STRING : field.scalar === ScalarType.STRING;
    if (text && !isUtf8(data)) return path;
    if (no === 2 && field.mapKind === 'message') {
      const inner = invalidUtf8Field(field.message, data, path);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/**
 * The path (`task.id`, `tasks[2].deps[0]`) of the first string field of a binary message that is
 * not valid UTF-8, or undefined. protobuf-es refuses such a message as a whole ("parse binary:
 * The encoded data was not valid for encoding utf-8", which connect sends as `Internal`); this
 * walks it again, only after that refusal, so the answer can name the field like any other
 * refusal. A message that does not parse for another reason gives undefined.
 */
export function invalidUtf8Field(schema: DescMessage, bytes: Uint8Array, prefix = ''): string | undefined {
  const reader = new BinaryReader(bytes);
  const seen = new Map<number, number>();
  try {
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag();
      const field = schema.fields.find((f) => f.number === no);
      if (field === undefined || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType, no);
        continue;
      }
      const data = reader.bytes();
      const index = seen.get(no) ?? 0;
      seen.set(no, index + 1);
      const name = prefix === '' ? field.jsonName : `${prefix}.${field.jsonName}`;
      const path = field.fieldKind === 'list' ? `${name}[${index}]` : name;
      if (stringField(field) && !isUtf8(data)) return path;
      const message = messageOf(field);
      const fault =
        message === undefined ? mapEntryFault(field, data, name) : invalidUtf8Field(message, data, path);
      if (fault !== undefined) return fault;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * What a binary request that did not parse is answered with: `InvalidArgument`, with the
 * coord.v1.Error detail, naming the field when a string is not UTF-8. connect-es (and grpc-go)
 * answer `Internal` "parse binary: ...", but the bytes are the client's mistake, and INTERNAL is
 * what Baton says of its own bugs (ErrorCode.INTERNAL): a broken client must not look like one on
 * the dashboards (docs/transport-notes.md §6).
 */
export function binaryParseFailure(
  schema: DescMessage,
  bytes: Uint8Array,
  error: ConnectError,
): ConnectError {
  const field = invalidUtf8Field(schema, bytes);
  if (field !== undefined) return toConnectError(invalidArgument(`${field} must be valid UTF-8`, { field }));
  if (error.code !== Code.Internal) return error;
  return toConnectError(invalidArgument(`${schema.typeName}: ${error.rawMessage}`));
}
