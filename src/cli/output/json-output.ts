import type { DescMessage, JsonValue } from '@bufbuild/protobuf';
import { restJson } from '../../server/rest/json.js';

/** A message as the REST API answers it (proto JSON, enums as words, every field present). */
export const jsonOf = (schema: DescMessage, message: unknown): JsonValue => restJson(schema, message);

/** Pretty JSON and a newline, as `--json` prints one answer. */
export const jsonText = (value: JsonValue): string => `${JSON.stringify(value, null, 2)}\n`;

/** Messages of one schema as a pretty JSON array, as `--json` prints a list of tasks. */
export const jsonListText = (schema: DescMessage, messages: readonly unknown[]): string =>
  jsonText(messages.map((m) => jsonOf(schema, m)));
