// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
/** The server's one door to generated code: everything it uses from src/gen, re-exported. */
export * from '../../gen/coord/v1/common_pb.js';
export * from '../../gen/coord/v1/coordinator_pb.js';
export * from '../../gen/coord/v1/events_pb.js';
export * from '../../gen/coord/v1/rate_limit_pb.js';
export * from '../../gen/coord/v1/status_pb.js';
export * from '../../gen/coord/v1/task_pb.js';
export * from '../../gen/coord/v1/worker_pb.js';
export * from '../../gen/coord/v1/workspace_pb.js';
