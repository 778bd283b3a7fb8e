// Shared by the codec tests: which typed error a call raises.

import { WireError } from "../../src/wire/errors.ts";

/** The code of the WireError fn throws; anything else thrown is a test failure. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return "no error";
}
