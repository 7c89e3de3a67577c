// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import { Code, ConnectError } from '@connectrpc/connect';
import { type BatonErrorCode, isBatonError } from '../../core/errors.js';
import { ErrorSchema } from './proto.js';
import { errorToWire } from './wire.js';

const CODES: Record<BatonErrorCode, Code> = {
  'invalid-argument': Code.InvalidArgument,
  'not-found': Code.NotFound,
  'already-exists': Code.AlreadyExists,
  'failed-precondition': Code.FailedPrecondition,
  aborted: Code.Aborted,
  'permission-denied': Code.PermissionDenied,
  'resource-exhausted': Code.ResourceExhausted,
  'out-of-range': Code.OutOfRange,
  unavailable: Code.Unavailable,
};

/**
 * The one translation from core errors to the wire. Core refusals keep their message (it names
 * the field or the task); anything else is a bug and becomes `Internal` without its text, so
 * stack traces and internals never leak to clients.
 */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  // The coord.v1.Error detail carries what a program needs beyond the message: the field, the
  // task, and data such as the unknown deps or the cycle path.
  if (isBatonError(error)) {
    return new ConnectError(error.message, CODES[error.code], undefined, [
      { desc: ErrorSchema, value: errorToWire(error) },
    ]);
  }
  return new ConnectError('internal error', Code.Internal);
}

/** HTTP statuses for the REST routes, per the Connect protocol's mapping with 409 for conflicts. */
const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 409,
  [Code.Aborted]: 409,
  // The one OUT_OF_RANGE is a resume point the server no longer has (WatchEvents' since_sequence):
  // 410 Gone, as Kubernetes answers a watch from a resourceVersion too old.
  [Code.OutOfRange]: 410,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.Unauthenticated]: 401,
};

export const httpStatusOf = (code: Code): number => HTTP_STATUS[code] ?? 500;
