// A peer entry's own limits: the bucket of control messages (peer_control_per_s) that it
// keeps in its fields (src/core/peers.ts, takeControl).

import { expect, test } from "bun:test";
import { Peer } from "../../src/core/peers.ts";
import type { Link } from "../../src/core/transport.ts";
import { SimClock } from "../../src/sim/clock.ts";

function peer(controlPerS: number) {
  const clock = new SimClock();
  const link = { id: "p", addr: "10.0.0.1:6001", remote: "10.0.0.1:40000", slot: undefined, queuedBytes: 0, send: () => true, close() {} } as unknown as Link;
  const p = new Peer(link, "incoming", "active", null, false, clock.env(1), { itemsPerS: 100, controlPerS, retireMs: 1000 });
  const takes = (n: number) => Array.from({ length: n }, () => p.takeControl()).filter(Boolean).length;
  return { clock, takes };
}

test("rule: a peer gets peer_control_per_s control messages a second, with a burst of one second's worth", () => {
  const { clock, takes } = peer(50);
  expect(takes(80)).toBe(50);
  clock.run(100);
  expect(takes(20)).toBe(5);
  clock.run(100);
  expect(takes(20)).toBe(5);
  // A quiet spell refills up to the burst, no further.
  clock.run(5000);
  expect(takes(80)).toBe(50);
});
