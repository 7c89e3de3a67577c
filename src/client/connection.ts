// How the SDKs reach a coordinator: the bearer token every call carries and the CA a TLS one is checked against.
import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';

/** What every client of one coordinator shares besides its URL. */
export interface ConnectionOptions {
  /**
   * A bearer token (`baton token create`), sent as `authorization: Bearer <token>` on every
   * call. Needed when the coordinator runs with `--auth-file`; never put it in the URL.
   */
  readonly token?: string | undefined;
  /**
   * PEM certificate(s) to trust for an `https://` URL, in place of the system's: a coordinator
   * with a self-signed or private-CA certificate (`baton serve --tls-cert`).
   */
  readonly ca?: string | Buffer | undefined;
}

/** The request headers a connection adds: the authorization header, if there is a token. */
export function connectionHeaders(connection: ConnectionOptions): Record<string, string> {
  return connection.token === undefined ? {} : { authorization: `Bearer ${connection.token}` };
}

/** Adds `authorization: Bearer <token>` to every call of a transport. */
export const bearer =
  (token: string): Interceptor =>
  (next) =>
  (request) => {
    request.header.set('authorization', `Bearer ${token}`);
    return next(request);
  };

const common = (connection: ConnectionOptions) => ({
  interceptors: connection.token === undefined ? [] : [bearer(connection.token)],
  ...(connection.ca === undefined ? {} : { nodeOptions: { ca: connection.ca } }),
});

/** gRPC over HTTP/2 at `baseUrl`, with the connection's token and CA. */
export function grpcTransport(
  baseUrl: string,
  connection: ConnectionOptions,
  defaultTimeoutMs?: number,
): Transport {
  return createGrpcTransport({
    baseUrl,
    ...common(connection),
    ...(defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs }),
  });
}

/** Connect over HTTP/1.1 at `baseUrl`, with the connection's token and CA. */
export function connectTransport(
  baseUrl: string,
  connection: ConnectionOptions,
  defaultTimeoutMs?: number,
): Transport {
  return createConnectTransport({
    baseUrl,
    httpVersion: '1.1',
    ...common(connection),
    ...(defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs }),
  });
}
