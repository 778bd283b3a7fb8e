// The passive view under view_prefix_limit: a crowded prefix fills only room nobody else
// wants, and is the first to make room when the view is full.

import { expect, test } from "bun:test";
import { addressPrefix } from "../../src/core/scores.ts";
import { PassiveView } from "../../src/core/views.ts";
import { SimClock } from "../../src/sim/clock.ts";

const crowd = (k: number) => `10.66.0.${k + 1}:6001`;
const other = (k: number) => `10.${k + 1}.0.1:6001`;

test("rule: a full passive view makes room from a prefix over the limit before anyone else", () => {
  const v = new PassiveView(8, new SimClock().env(1), addressPrefix);
  for (let k = 0; k < 2; k++) v.add(other(k), [], 3);
  for (let k = 0; k < 6; k++) v.add(crowd(k), [], 3);
  expect(v.size).toBe(8);
  // Three newcomers from other prefixes push the crowd down to the limit, never out an honest entry.
  for (let k = 2; k < 5; k++) v.add(other(k), [], 3);
  expect(v.countPrefix(addressPrefix(crowd(0)))).toBe(3);
  for (let k = 0; k < 5; k++) expect(v.has(other(k))).toBe(true);
  // At the limit, the crowd is no longer preferred: a random entry makes room.
  v.add(other(5), [], 3);
  expect(v.size).toBe(8);
});

test("without a limit a full view makes room at random", () => {
  const v = new PassiveView(4, new SimClock().env(1), addressPrefix);
  for (let k = 0; k < 4; k++) v.add(crowd(k));
  v.add(other(0));
  expect(v.size).toBe(4);
  expect(v.has(other(0))).toBe(true);
});
