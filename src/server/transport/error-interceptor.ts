// transport/: the one port (HTTP/1.1 + HTTP/2) and the hand-written gRPC paths that bypass connect-node.
// Imports codec/ and src/wire; services/ and runtime/ for types only (test/architecture/walls.test.ts).
import type { Interceptor } from '@connectrpc/connect';
import { toConnectError } from '../codec/errors.js';

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  report: (e: unknown) => void,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    report(error);
    throw toConnectError(error);
  }
}

/**
 * Turns core refusals into ConnectErrors with the right code on every protocol, and hides
 * anything else behind `Internal` after logging it: handlers stay decode → core → encode.
 */
export function errorInterceptor(
  log: (error: unknown, fields?: Readonly<Record<string, unknown>>) => void,
): Interceptor {
  return (next) => async (request) => {
    const report = (error: unknown): void => {
      if (toConnectError(error).rawMessage === 'internal error')
        log(error, { rpc: `${request.service.typeName}/${request.method.name}` });
    };
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { ...response, message: mapStreamErrors(response.message, report) };
    } catch (error) {
      report(error);
      throw toConnectError(error);
    }
  };
}
