// `gossip status` against an HTTP server that is not a gossip node: whatever JSON it sends,
// the answer is one line naming the URL and the first field that is wrong, and exit 1.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { runGossip } from "../helpers/cli.ts";

let body = "null";
let server: ReturnType<typeof Bun.serve>;
let admin = "";
beforeAll(() => {
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(body, { headers: { "content-type": "application/json" } }) });
  admin = `127.0.0.1:${server.port}`;
});
afterAll(() => {
  server.stop(true);
});

const GOOD = {
  id: "ab".repeat(32),
  p2pAddress: "127.0.0.1:6001",
  apiAddress: "127.0.0.1:7001",
  uptimeS: 3,
  neighbours: [{ address: "127.0.0.1:6002", id: "cd".repeat(32), direction: "in", ageMs: 1500, mode: "eager", queuedBytes: 0 }],
  passiveViewSize: 0,
  apiConnections: 0,
  apiSubscriptions: 0,
  counters: { itemsAnnounced: 0, itemsReceived: 0, itemsDuplicate: 0, itemsDelivered: 0, itemsForwarded: 0, itemsDropped: { rejected: 0 }, bans: 0 },
};

describe("gossip status: JSON that is not a gossip status", () => {
  const cases: [string, unknown, string][] = [
    ["null", null, "the body: expected an object, got null"],
    ["an empty object", {}, "id: expected a string, got undefined"],
    ["a string", "x", `the body: expected an object, got "x"`],
    ["an array", [], "the body: expected an object, got an array"],
    ["bad nested fields", { counters: { itemsDropped: {} }, neighbours: [{}] }, "id: expected a string, got undefined"],
    ["a neighbour without fields", { ...GOOD, neighbours: [{}] }, "neighbours[0].address: expected a string, got undefined"],
    ["a dropped reason that is not a number", { ...GOOD, counters: { ...GOOD.counters, itemsDropped: { rejected: {} } } }, "counters.itemsDropped.rejected: expected a number, got an object"],
    ["counters missing", { ...GOOD, counters: undefined }, "counters: expected an object, got undefined"],
  ];
  for (const [name, json, problem] of cases) {
    for (const flags of [[], ["--json"]]) {
      test(`${name} ${flags.join(" ")}`, async () => {
        body = JSON.stringify(json);
        const r = await runGossip(["status", "--admin", admin, ...flags]);
        expect([r.code, r.out, r.err]).toEqual([
          1,
          [],
          [`gossip: http://${admin}/status: not a gossip status: ${problem} (is ${admin} a gossip admin_address?)`],
        ]);
      });
    }
  }

  test("a well-formed status prints its table", async () => {
    body = JSON.stringify(GOOD);
    const r = await runGossip(["status", "--admin", admin]);
    expect([r.code, r.err]).toEqual([0, []]);
    expect(r.out[0]).toBe(`id        ${GOOD.id}`);
    expect(r.out.at(-1)).toBe(`127.0.0.1:6002  ${"cd".repeat(8)}  in   1.5 s  eager  0 B`);
  });
});
