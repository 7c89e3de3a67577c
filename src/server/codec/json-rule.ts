// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ for types only (test/architecture/walls.test.ts).

/**
 * The one rule for JSON answers, REST and Connect alike: every field, zero values too
 * (`"failed": 0`), so a reader never needs proto3's defaults and both doors show the same
 * fields. Unset optional fields and oneof members stay out. (protobuf-es JsonWriteOptions.)
 */
export const JSON_WRITE_OPTIONS = { alwaysEmitImplicit: true } as const;
