import { ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { ClientError } from 'nice-grpc';

/** What a call that must be refused failed with, as a ConnectError (fails the spec if it succeeds). */
export async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error('expected a rejection');
}

/** The same through grpc-js (nice-grpc): the error must be a ClientError. */
export async function clientError(call: Promise<unknown>): Promise<ClientError> {
  try {
    await call;
  } catch (error) {
    expect(error).to.be.instanceOf(ClientError);
    return error as ClientError;
  }
  throw new Error('the call succeeded');
}
