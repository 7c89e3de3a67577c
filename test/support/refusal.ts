import { type Code, ConnectError } from '@connectrpc/connect';

/** The code and message a call was refused with; fails the spec if the call succeeded. */
export async function refusal(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error('the call succeeded');
}
