// A node tells its peers advertise_address, not the address it listens on (issue 9 item 5).

import { expect, test } from "bun:test";
import { defer, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { freePort, startNode, until } from "../helpers/testnet.ts";

useCleanup();

test("rule: peers learn a node's advertise_address (in the handshake), and its own view of itself uses it", async () => {
  const [ka, kb] = (await nodeKeys()) as [NonNullable<Awaited<ReturnType<typeof nodeKeys>>[0]>, NonNullable<Awaited<ReturnType<typeof nodeKeys>>[1]>];
  const port = freePort();
  const a = defer(startNode({ hostkey: ka, keys: { p2p_address: `127.0.0.1:${port}`, advertise_address: `localhost:${port}` } }), (n) => n.stop());
  expect(a.p2pAddress).toBe(`localhost:${port}`);
  const b = defer(startNode({ hostkey: kb, bootstrapper: `127.0.0.1:${port}` }), (n) => n.stop());
  await until(() => b.membership.active.has(a.id), 5000, "b joins a");
  expect(b.membership.active.get(a.id)!.addr).toBe(`localhost:${port}`);
});
