import { Code, ConnectError } from '@connectrpc/connect';

/**
 * Cuts a gRPC byte stream into envelopes (flag byte, 4-byte length, message) across chunk
 * boundaries: the read half of the lean Session codec, on the SDK's side and on the server's.
 */
export interface EnvelopeReader {
  /**
   * Hands each complete envelope's message bytes to `onMessage`, in order, while `more()` holds,
   * and keeps an unfinished one for the next chunk. Throws a ConnectError for a compressed
   * envelope (the Session never compresses); after a throw the stream is to be abandoned.
   */
  push(chunk: Buffer, onMessage: (bytes: Uint8Array) => void, more: () => boolean): void;
  /** Bytes of an unfinished envelope are waiting: at the end of the stream, a protocol error. */
  readonly partial: boolean;
}

export const incompleteEnvelope = (): ConnectError =>
  new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);

/** A message larger than `maxBytes` is refused as soon as its length prefix arrives. */
export interface EnvelopeLimit {
  readonly maxBytes: number;
  /** The error to throw for a message of `bytes`. */
  readonly tooLarge: (bytes: number) => Error;
}

/**
 * The code of the error for a compressed envelope: Internal where the other side is the server
 * (the SDK reading it: the server broke the protocol), InvalidArgument where it is a client.
 */
export interface EnvelopeRules {
  readonly limit?: EnvelopeLimit;
  readonly compressedCode?: Code;
}

export function createEnvelopeReader(rules: EnvelopeRules = {}): EnvelopeReader {
  const { limit, compressedCode = Code.Internal } = rules;
  let buffered: Buffer | undefined;
  return {
    push(chunk, onMessage, more) {
      let data = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      buffered = undefined;
      while (data.length >= 5 && more()) {
        const size = data.readUInt32BE(1);
        if (limit !== undefined && size > limit.maxBytes) throw limit.tooLarge(size);
        const end = 5 + size;
        if (data.length < end) break;
        if (((data[0] as number) & 0b1) !== 0) {
          throw new ConnectError(
            'received compressed envelope, but do not know how to decompress',
            compressedCode,
          );
        }
        const bytes = data.subarray(5, end);
        data = data.subarray(end);
        onMessage(bytes);
      }
      if (data.length > 0) buffered = data;
    },
    get partial() {
      return buffered !== undefined;
    },
  };
}
