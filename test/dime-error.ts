// Test helper: asserts that fn throws a DimeError with the given code and a message matching reason.
import { DimeError, type DimeErrorCode } from '@lib/dime';

export function expectDimeError(fn: () => unknown, code: DimeErrorCode, reason: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DimeError);
  expect((caught as DimeError).code).toBe(code);
  expect((caught as DimeError).message).toMatch(reason);
}
