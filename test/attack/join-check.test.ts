// The JOIN address check (docs/PROTOCOL.md 5.3) dials the joiner back, so the contact solves
// the joiner's proof of work. A joiner demanding more than the contact's own pow_bits (up to
// 28 bits: 128 times the default) would make each JOIN cost the contact that much: the
// contact refuses such a check, and the joiner merely gets no walks.

import { expect, test } from "bun:test";
import type { Hostkey } from "../../src/config/hostkey.ts";
import { memoryLogger } from "../../src/util/log.ts";
import { defer, logged, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { startNode, until } from "../helpers/testnet.ts";

useCleanup();

async function joinWith(joinerPowBits: string) {
  const [ka, kb, kc] = (await nodeKeys()) as [Hostkey, Hostkey, Hostkey];
  const { log, lines } = memoryLogger("debug");
  // No shuffles: b's own SHUFFLE would tell c of b too; here only a walk can.
  const quiet = { shuffle_interval_ms: "3600000", refresh_interval_ms: "0" };
  const a = defer(startNode({ hostkey: ka, log, keys: { ...quiet, pow_bits: "4" } }), (n) => n.stop());
  const c = defer(startNode({ hostkey: kc, bootstrapper: a.p2pAddress, keys: { ...quiet, pow_bits: "4", p2p_address: "127.0.1.1:0" } }), (n) => n.stop());
  await until(() => a.membership.active.has(c.id), 5000, "c joins a");
  const b = defer(startNode({ hostkey: kb, bootstrapper: a.p2pAddress, keys: { ...quiet, pow_bits: joinerPowBits, p2p_address: "127.0.2.1:0" } }), (n) => n.stop());
  await until(() => a.membership.active.has(b.id), 5000, "b joins a");
  return { a, b, c, lines };
}

test("rule: the contact checks a joiner's address only at its own difficulty: its walks go out for an equal one, not for a harder one", async () => {
  // Equal difficulty: checked, walked, and c (a's other neighbour, where the walk ends) dials b.
  const ok = await joinWith("4");
  await until(() => ok.c.membership.active.has(ok.b.id), 5000, "the walk makes c a neighbour of b");
  // Harder (12 bits against a's 4): the check is refused before any work, no walk goes out.
  const hard = await joinWith("12");
  await until(() => logged(hard.lines, "joiner's address not verified: no walks", "difficulty too high").length === 1, 5000, "the check refused");
  await Bun.sleep(500);
  expect(hard.c.membership.active.has(hard.b.id)).toBe(false);
  // b is still a's neighbour: a JOIN is never refused.
  expect(hard.a.membership.active.has(hard.b.id)).toBe(true);
}, 20_000);
