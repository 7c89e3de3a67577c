// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import type { ConnectError } from '@connectrpc/connect';
import { limitRefusal } from '../../core/limits.js';
import { toConnectError } from './errors.js';

/** One request message (a REST body, a Connect body, a gRPC message) may be this large. */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/**
 * The refusal of a request over `--max-request-bytes`, the same text on every path: `a request
 * message of 20000 bytes: over the limit --max-request-bytes (16384)`. `bytes` is what the sender
 * declared (content-length, the gRPC length prefix) or, lacking that, what arrived so far.
 */
export const requestTooLarge = (bytes: number, limit: number): ConnectError =>
  toConnectError(
    limitRefusal('max-request-bytes', limit, `a request message of ${bytes} bytes`, {}, 'resource-exhausted'),
  );
