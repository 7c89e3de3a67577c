import { Code, ConnectError } from '@connectrpc/connect';
import { type BatonErrorDetail, ErrorCode, ErrorSchema } from './proto.js';

const toConnectCode: Record<ErrorCode, Code> = {
  [ErrorCode.UNSPECIFIED]: Code.Unknown,
  [ErrorCode.INVALID_ARGUMENT]: Code.InvalidArgument,
  [ErrorCode.NOT_FOUND]: Code.NotFound,
  [ErrorCode.ALREADY_EXISTS]: Code.AlreadyExists,
  [ErrorCode.FAILED_PRECONDITION]: Code.FailedPrecondition,
  [ErrorCode.ABORTED]: Code.Aborted,
  [ErrorCode.RESOURCE_EXHAUSTED]: Code.ResourceExhausted,
  [ErrorCode.UNAVAILABLE]: Code.Unavailable,
  [ErrorCode.INTERNAL]: Code.Internal,
  [ErrorCode.PERMISSION_DENIED]: Code.PermissionDenied,
  [ErrorCode.OUT_OF_RANGE]: Code.OutOfRange,
};

/**
 * Turns a refusal carried inside a stream (a Receipt or a RateError) into the same ConnectError a
 * refused unary call throws, with the Error attached as its detail, so callers handle both with
 * `ConnectError.from(e).code` and {@link batonErrorDetail}.
 */
export function connectErrorFromDetail(detail: BatonErrorDetail | undefined, fallback: string): ConnectError {
  const code = detail === undefined ? Code.Unknown : (toConnectCode[detail.code] ?? Code.Unknown);
  const message = detail?.message || fallback;
  return new ConnectError(
    message,
    code,
    undefined,
    detail === undefined ? undefined : [{ desc: ErrorSchema, value: detail }],
  );
}

/**
 * The coordinator's structured refusal (`coord.v1.Error`: the field at fault, the task, data such
 * as a cycle path) attached to an error, if any. Lets programs act on a refusal without parsing
 * its message.
 */
export function batonErrorDetail(error: unknown): BatonErrorDetail | undefined {
  return ConnectError.from(error).findDetails(ErrorSchema)[0];
}

/**
 * Stream-ending codes after which reconnecting cannot help: the coordinator refused this worker's
 * hello or credentials, does not serve the method, or another session took over the worker id
 * (ABORTED). Any other end (network, restart, UNAVAILABLE, a lapsed lease, FAILED_PRECONDITION
 * from a coordinator that forgot the worker) is retried with backoff, since a fresh hello can
 * fix it.
 */
export const fatalSessionCodes: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.Aborted,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);

/**
 * Whether a session that ended with `error` must not be retried: a code in
 * {@link fatalSessionCodes} that the coordinator sent. connect-node also turns a connection reset
 * by the network or by a coordinator that died (ECONNRESET, a destroyed HTTP/2 stream) into
 * ABORTED; such an error carries the Node.js error as its cause and is retried like any other
 * network failure, or a coordinator restart would stop every worker for good.
 */
export function isFatalSessionEnd(error: ConnectError): boolean {
  if (!fatalSessionCodes.has(error.code)) return false;
  const cause = error.cause as { code?: unknown } | undefined;
  return !(cause instanceof Error && typeof cause.code === 'string');
}
