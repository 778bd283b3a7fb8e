// The real environment: the monotonic clock, event-loop timers, the platform's random
// source and SHA-256. The binary, the real-socket tests and the benchmark run the core on this.

import type { Env, Timer } from "../core/env.ts";
import { sha256 } from "./sha256.ts";

export const realEnv: Env = {
  now: () => performance.now(),
  after(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  every(ms: number, fn: () => void): Timer {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  random: () => Math.random(),
  bytes: (n: number) => crypto.getRandomValues(new Uint8Array(n)),
  sha256,
};
