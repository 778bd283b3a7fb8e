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

describe("gossip status: an answer that stalls or never ends", () => {
  /** A raw HTTP server: `serve` gets each connection once its request arrived. */
  function rawServer(serve: (s: Bun.Socket<{ stop: boolean }>) => void) {
    const l = Bun.listen<{ stop: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => void (s.data = { stop: false }),
        data: (s) => serve(s),
        drain: (s) => serve(s),
        close: (s) => void (s.data.stop = true),
      },
    });
    return { addr: `127.0.0.1:${l.port}`, stop: () => l.stop(true) };
  }

  test("headers, then nothing: exit 1 naming the URL and the deadline", async () => {
    const srv = rawServer((s) => void s.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":"));
    try {
      const r = await runGossip(["status", "--admin", srv.addr]);
      expect([r.code, r.out]).toEqual([1, []]);
      expect(r.err).toEqual([`gossip: http://${srv.addr}/status: no complete answer within 5 s`]);
    } finally {
      srv.stop();
    }
  }, 15_000);

  test("an endless chunked body: exit 1 naming the URL once 16 MiB are read", async () => {
    const chunk = Buffer.from("ffff\r\n" + "x".repeat(0xffff) + "\r\n");
    let pending = Buffer.from("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
    const srv = rawServer((s) => {
      // Until the kernel buffer is full (drain calls again); a partly written chunk goes first.
      while (!s.data.stop) {
        if (pending.length === 0) pending = chunk;
        const n = s.write(pending);
        pending = pending.subarray(Math.max(0, n));
        if (pending.length > 0) return;
      }
    });
    try {
      const r = await runGossip(["status", "--admin", srv.addr]);
      expect([r.code, r.out]).toEqual([1, []]);
      expect(r.err).toEqual([`gossip: http://${srv.addr}/status: answer larger than 16 MiB (is ${srv.addr} a gossip admin_address?)`]);
    } finally {
      srv.stop();
    }
  }, 15_000);
});
