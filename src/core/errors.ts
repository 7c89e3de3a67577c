/**
 * Why a core operation was refused. The server maps each to one gRPC code and one HTTP status,
 * so the core never needs to know about transports.
 */
export type BatonErrorCode =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'aborted'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'out-of-range'
  | 'unavailable';

export interface BatonErrorDetails {
  /** The request field at fault, e.g. `deps` or `tasks[3].priority`. */
  readonly field?: string;
  /** The task the error is about. */
  readonly taskId?: string;
  /** Free-form data for clients that want more than the message (unknown deps, a cycle path). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** The one error type the core throws on purpose. Any other error is a bug. */
export class BatonError extends Error {
  override readonly name = 'BatonError';
  readonly code: BatonErrorCode;
  readonly field: string | undefined;
  readonly taskId: string | undefined;
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(code: BatonErrorCode, message: string, details: BatonErrorDetails = {}) {
    super(message);
    this.code = code;
    this.field = details.field;
    this.taskId = details.taskId;
    this.data = details.data;
  }
}

export const invalidArgument = (message: string, details?: BatonErrorDetails): BatonError =>
  new BatonError('invalid-argument', message, details);

export const notFound = (message: string, details?: BatonErrorDetails): BatonError =>
  new BatonError('not-found', message, details);

export const failedPrecondition = (message: string, details?: BatonErrorDetails): BatonError =>
  new BatonError('failed-precondition', message, details);

export const isBatonError = (e: unknown): e is BatonError => e instanceof BatonError;
