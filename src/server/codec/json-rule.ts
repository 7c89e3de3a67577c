// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ for types only (test/architecture/walls.test.ts).

/**
 * The one rule for JSON answers, REST and Connect alike: every field, zero values too
 * (`"failed": 0`), so a reader never needs proto3's defaults and both doors show the same
 * fields. Unset optional fields and oneof members stay out. (protobuf-es JsonWriteOptions.)
 */
export const JSON_WRITE_OPTIONS = { alwaysEmitImplicit: true } as const;

/**
 * The Connect JSON options of the RPC paths: the rule above for answers, and requests read as
 * strictly as REST reads them. connect ignores unknown keys by default, and protobuf-es then drops
 * unknown enum names too: `{"task": {"id": "a", "dpes": ["b"]}}` added a task without its deps, and
 * a purge of `["TASK_STATUS_COMPLETED"]` (a typo) purged every settled task. A key or name this
 * server does not know is refused naming it; binary messages keep protobuf's unknown fields.
 */
export const JSON_OPTIONS = { ...JSON_WRITE_OPTIONS, ignoreUnknownFields: false } as const;
