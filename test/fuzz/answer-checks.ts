import { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import type { Lifecycle } from './task-model.js';

/**
 * Stack frames and source paths: none may reach a client, whatever it sent. Specific enough that
 * the ids and metadata the generators send, echoed in a message, never match.
 */
const LEAKS: readonly RegExp[] = [
  /\n\s*at \S.*:\d+:\d+/,
  /\((?:file:\/\/)?\/[^)]*\.[cm]?[jt]s:\d+:\d+\)/,
  /node:internal\//,
  /\/(?:src|dist|node_modules)\/[\w@./-]+\.[cm]?[jt]s\b/,
  /\b(?:TypeError|ReferenceError|RangeError|SyntaxError): /,
];

export function expectNoLeak(text: string, what: string): void {
  for (const leak of LEAKS) expect(text, `${what}: leaks internals`).not.to.match(leak);
}

/**
 * A 5xx is a server fault, except 503 from a coordinator that was stopped for good, and 501 where
 * the Connect protocol prescribes it (an unknown compression is `unimplemented`, which Connect
 * sends as 501).
 */
export function expectHttpStatus(status: number, state: Lifecycle, what: string, code?: unknown): void {
  if (status === 503 && state === 'stopped') return;
  if (status === 501 && code === 'unimplemented') return;
  expect(status, `${what}: HTTP status`).to.be.below(500);
}

/** The gRPC/Connect code of a refusal: never a server fault for what a client sent. */
export function expectClientCode(code: Code, state: Lifecycle, what: string): void {
  expect(code, `${what}: code ${Code[code]}`).not.to.be.oneOf([Code.Internal, Code.Unknown, Code.DataLoss]);
  if (state !== 'stopped') expect(code, `${what}: code ${Code[code]}`).not.to.equal(Code.Unavailable);
}
