// TokenBucket (injected clock): `rate` tokens per second, a burst of at most `rate`.
// LogThrottle: one line per interval, carrying the count of the events it held back.

import { realEnv } from "../../src/util/real-env.ts";
import { describe, expect, test } from "bun:test";
import { LogThrottle, TokenBucket } from "../../src/util/bucket.ts";

function clocked(rate: number) {
  let t = 5000;
  const b = new TokenBucket(rate, { now: () => t });
  return { b, advance: (ms: number) => void (t += ms), takes: (n: number) => Array.from({ length: n }, () => b.take()).filter(Boolean).length };
}

describe("TokenBucket", () => {
  test("starts full: a burst of `rate` passes, the next is refused", () => {
    const { b, takes } = clocked(5);
    expect(takes(5)).toBe(5);
    expect(b.take()).toBe(false);
  });

  test("refills at `rate` per second, fractions included", () => {
    const { b, advance, takes } = clocked(10);
    takes(10);
    advance(99);
    expect(b.take()).toBe(false);
    advance(1);
    expect(b.take()).toBe(true);
    advance(350);
    expect(takes(10)).toBe(3);
    const slow = clocked(1);
    slow.takes(1);
    slow.advance(500);
    expect(slow.b.take()).toBe(false);
    slow.advance(500);
    expect(slow.b.take()).toBe(true);
  });

  test("a long idle time refills to `rate`, no more", () => {
    const { advance, takes } = clocked(4);
    takes(4);
    advance(3_600_000);
    expect(takes(100)).toBe(4);
  });

  test("refused takes do not spend tokens: a steady sender at the rate is never refused", () => {
    const { advance, takes } = clocked(20);
    takes(20);
    for (let i = 0; i < 100; i++) {
      advance(50);
      expect(takes(1)).toBe(1);
      expect(takes(1)).toBe(0);
    }
  });
});

describe("LogThrottle", () => {
  test("the first event is reported at once; the rest of the interval is reported in one line when it ends", async () => {
    const reported: number[] = [];
    const t = new LogThrottle((n) => reported.push(n), realEnv, 40);
    t.hit();
    expect(reported).toEqual([1]);
    for (let i = 0; i < 9; i++) t.hit();
    expect(reported).toEqual([1]);
    await Bun.sleep(80);
    // The 9 held back are reported even though no event followed them.
    expect(reported).toEqual([1, 9]);
  });

  test("after a quiet interval the next event is reported on its own", async () => {
    const reported: number[] = [];
    const t = new LogThrottle((n) => reported.push(n), realEnv, 20);
    t.hit();
    await Bun.sleep(40);
    t.hit();
    expect(reported).toEqual([1, 1]);
  });

  test("a steady stream yields about one line per interval and loses no count", async () => {
    const reported: number[] = [];
    const t = new LogThrottle((n) => reported.push(n), realEnv, 30);
    for (let i = 0; i < 20; i++) {
      t.hit();
      await Bun.sleep(5);
    }
    await Bun.sleep(60);
    expect(reported.reduce((a, b) => a + b, 0)).toBe(20);
    expect(reported.length).toBeLessThan(20);
  });
});
