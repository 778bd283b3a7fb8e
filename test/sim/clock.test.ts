// The simulator's clock: events run in (time, order of scheduling) order, whatever the heap
// inside it does; cancelled events never run; events scheduled by events take their place.

import { expect, test } from "bun:test";
import { SimClock } from "../../src/sim/clock.ts";
import { mulberry32 } from "../../src/util/prng.ts";

test("rule: events run by time, and events of the same time in the order they were scheduled", () => {
  const rnd = mulberry32(7);
  const clock = new SimClock();
  const ran: number[] = [];
  const expected: Array<{ at: number; seq: number; id: number }> = [];
  let seq = 0;
  let id = 0;
  const cancelled = new Set<number>();
  const schedule = (ms: number) => {
    const me = id++;
    // Coarse times, so that many events share one.
    const delay = Math.floor(ms);
    const at = clock.now() + delay;
    const mySeq = seq++;
    const t = clock.at(delay, () => {
      ran.push(me);
      // Some events schedule more, some at once (delay 0).
      if (rnd() < 0.3 && id < 20_000) schedule(rnd() < 0.2 ? 0 : rnd() * 50);
    });
    if (rnd() < 0.1) {
      t.cancel();
      cancelled.add(me);
    } else expected.push({ at, seq: mySeq, id: me });
  };
  for (let i = 0; i < 5000; i++) schedule(rnd() * 200);
  clock.run(1_000_000);
  // Events scheduled while running were added to `expected` as they came: sort it all.
  expected.sort((x, y) => x.at - y.at || x.seq - y.seq);
  expect(ran.length).toBe(expected.length);
  expect(ran).toEqual(expected.map((e) => e.id));
  for (const c of cancelled) expect(ran.includes(c)).toBe(false);
  expect(clock.pending).toBe(0);
});
