// A bootstrapper list shared by every config names each node too, and a node skips its own
// address in it; under another name (localhost for 127.0.0.1) only a dial shows that it is
// ours: the peer presents our own identity (ERR_HS_SELF). From then on it is not dialled again.

import { expect, test } from "bun:test";
import { memoryLogger } from "../../src/util/log.ts";
import { defer, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { freePort, startNode, until } from "../helpers/testnet.ts";

useCleanup();

test("rule: a bootstrapper that turns out to be this node under another name is dialled once, then never again", async () => {
  const [key] = await nodeKeys();
  const port = freePort();
  const mem = memoryLogger("debug");
  const a = defer(startNode({ hostkey: key!, keys: { p2p_address: `127.0.0.1:${port}` }, bootstrapper: `localhost:${port}`, log: mem.log }), (n) => n.stop());
  const selfHandshakes = () => mem.lines.filter((l) => l.includes("ERR_HS_SELF")).length;
  await until(() => mem.lines.some((l) => l.includes("an address that reaches this node itself")), 5000, "the alias found");
  // Failed dials back off 1, 2, 4 s: without the rule the node would have dialled itself again by now.
  await Bun.sleep(3500);
  expect(selfHandshakes()).toBeGreaterThanOrEqual(1);
  expect(selfHandshakes()).toBeLessThanOrEqual(2); // each end of the one self-connection may log it
  expect(mem.lines.filter((l) => l.includes("cannot reach the bootstrapper"))).toEqual([]);
  expect(a.membership.passive.has(`localhost:${port}`)).toBe(false);
});
