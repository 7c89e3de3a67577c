import { expect } from 'chai';
import { BatonError, type BatonErrorCode } from '../../src/core/errors.js';

/**
 * Runs `fn`, expecting a `BatonError` with `code` whose message mentions every string in
 * `mentions` (the task, the field, the deps at fault). Returns the error for further checks.
 */
export function expectBatonError(fn: () => unknown, code: BatonErrorCode, ...mentions: string[]): BatonError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) expect.fail(`expected a BatonError ${code}, but nothing was thrown`);
  expect(caught, String(caught)).to.be.instanceOf(BatonError);
  const error = caught as BatonError;
  expect(error.code, error.message).to.equal(code);
  for (const mention of mentions) expect(error.message).to.include(mention);
  return error;
}

/** Like `expectBatonError`, and also checks that `state()` (e.g. `queue.toJSON()`) did not change. */
export function expectRefused<S>(
  state: () => S,
  fn: () => unknown,
  code: BatonErrorCode,
  ...mentions: string[]
): BatonError {
  const before = state();
  const error = expectBatonError(fn, code, ...mentions);
  expect(state()).to.deep.equal(before);
  return error;
}

/** Like `expectBatonError`, and checks the field the error names (`BatonError.field`) when one is given. */
export function expectFieldError(fn: () => unknown, code: BatonErrorCode, field?: string): BatonError {
  const error = expectBatonError(fn, code);
  if (field !== undefined) expect(error.field).to.equal(field);
  return error;
}
