// Dials are paced in the TCP transport (issue 9): each handshake of ours solves a proof of
// work on the one event-loop thread, so a node that dialled every missing neighbour at once
// had them all time out together.

import { describe, expect, test } from "bun:test";
import { MAX_ASKED_DIALS_AT_ONCE, MAX_ASKED_DIALS_QUEUED, MAX_DIALS_AT_ONCE, TcpTransport, type TcpTransportOptions } from "../../src/net/peer-transport.ts";
import { SimClock } from "../../src/sim/clock.ts";
import { Logger } from "../../src/util/log.ts";
import { testKeys, until } from "../helpers/testnet.ts";

test(`rule: at most MAX_DIALS_AT_ONCE (${MAX_DIALS_AT_ONCE}) of our dials connect or handshake at once; the rest wait their turn and all get one`, async () => {
  // A peer that accepts and never answers: each dial waits out its handshake deadline.
  let accepted = 0;
  const silent = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open() {
        accepted++;
      },
      data() {},
    },
  });
  const [key] = await testKeys(1);
  const t = new TcpTransport({
    listenHost: "127.0.0.1", listenPort: 0, advertise: null, sendBufferBytes: 1 << 20, handshakeTimeoutMs: 1000,
    maxHandshakes: 64, maxConnsPerIp: 0, powBits: 4, hostkey: key!, log: new Logger("silent", "t"), admit: () => null,
  });
  const closed: string[] = [];
  t.start({ established: () => {}, message: () => {}, closed: (_l, why) => void closed.push(why), violated: () => {} });
  try {
    for (let i = 0; i < 7; i++) t.dial(`127.0.0.1:${silent.port}`);
    expect(t.dialsInProgress).toBe(MAX_DIALS_AT_ONCE);
    expect(t.dialsQueued).toBe(7 - MAX_DIALS_AT_ONCE);
    // Within the first deadline (1 s): only the first few reached the peer.
    await until(() => accepted === MAX_DIALS_AT_ONCE, 900, "the first dials connect");
    expect(closed).toEqual([]);
    expect(accepted).toBe(MAX_DIALS_AT_ONCE);
    await until(() => closed.length === 7, 10_000, "every dial ran and timed out");
    expect(accepted).toBe(7);
    expect(t.dialsInProgress).toBe(0);
  } finally {
    t.stop();
    silent.stop(true);
  }
});

// Dials a peer asked for (issue: one neighbour could stall every dial of ours). A FORWARD_JOIN
// that ends here, or a JOIN whose address we check, makes us dial an address the peer names,
// and one that accepts TCP and stays silent holds a slot for the whole handshake deadline.
// Sockets here never open (an injected connect), and the queue's deadlines run on a virtual
// clock, so nothing waits on real time.
describe("dials a peer asked for", () => {
  async function pacedTransport() {
    const clock = new SimClock();
    const env = clock.env(1);
    const started: string[] = [];
    const fail = new Map<string, (e: Error) => void>();
    // A connect that never opens a socket until the test fails it.
    const neverOpens = ((host: string, port: number) => {
      started.push(`${host}:${port}`);
      return new Promise<never>((_, reject) => fail.set(`${host}:${port}`, reject));
    }) as unknown as TcpTransportOptions["connect"];
    const [key] = await testKeys(1);
    const t = new TcpTransport({
      listenHost: "127.0.0.1", listenPort: 0, advertise: null, sendBufferBytes: 1 << 20, handshakeTimeoutMs: 10_000,
      maxHandshakes: 64, maxConnsPerIp: 0, powBits: 4, hostkey: key!, log: new Logger("silent", "t"), admit: () => null,
      connect: neverOpens, env,
    });
    const closed = new Map<string, string>();
    t.start({ established: () => {}, message: () => {}, closed: (l, why) => void closed.set(l.remote, why), violated: () => {} });
    return { t, clock, started, fail, closed };
  }
  const walk = (k: number) => `127.0.0.1:${20_000 + k}`;

  test(`rule: at most MAX_ASKED_DIALS_AT_ONCE (${MAX_ASKED_DIALS_AT_ONCE}) of them run and MAX_ASKED_DIALS_QUEUED (${MAX_ASKED_DIALS_QUEUED}) wait, each at most handshake_timeout_ms; more are dropped at once, and our own dial starts at once`, async () => {
    const { t, clock, started, closed } = await pacedTransport();
    try {
      const n = MAX_ASKED_DIALS_AT_ONCE + MAX_ASKED_DIALS_QUEUED + 30;
      const links = [];
      for (let k = 0; k < n; k++) links.push(t.dial(walk(k), k % 2 === 0 ? "walk" : "check"));
      expect(started).toEqual([walk(0), walk(1)]);
      expect(t.dialsQueued).toBe(MAX_ASKED_DIALS_QUEUED);
      // The core sees which of them the transport holds back (they do not hold up its refill).
      expect(links.map((l) => l.waiting).indexOf(true)).toBe(MAX_ASKED_DIALS_AT_ONCE);
      await Bun.sleep(0);
      expect(closed.size).toBe(30);
      expect([...closed.values()].every((r) => r === "dial dropped: too many dials a peer asked for are waiting")).toBe(true);
      // The slot they may not take is ours.
      t.dial("127.0.0.1:5", "own");
      expect(started.at(-1)).toBe("127.0.0.1:5");
      expect(t.dialsInProgress).toBe(MAX_DIALS_AT_ONCE);
      // Waiting past the handshake deadline drops them; the running ones run on.
      clock.run(9_999);
      expect(closed.size).toBe(30);
      clock.run(1);
      expect(closed.size).toBe(30 + MAX_ASKED_DIALS_QUEUED);
      expect(closed.get(walk(2))).toBe("dial dropped: waited 10000 ms for a dial slot");
      expect(t.dialsQueued).toBe(0);
      expect(t.dialsInProgress).toBe(MAX_DIALS_AT_ONCE);
    } finally {
      t.stop();
    }
  });

  test("rule: a free slot goes to our own waiting dial before any dial a peer asked for, whichever waited longer", async () => {
    const { t, started, fail } = await pacedTransport();
    try {
      t.dial("127.0.0.1:1", "own");
      t.dial("127.0.0.1:2", "own");
      t.dial("127.0.0.1:3", "own");
      t.dial(walk(0), "walk");
      t.dial("127.0.0.1:4", "own");
      expect(started).toEqual(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
      fail.get("127.0.0.1:1")!(new Error("connection refused"));
      await Bun.sleep(0);
      expect(started).toEqual(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"]);
      fail.get("127.0.0.1:2")!(new Error("connection refused"));
      await Bun.sleep(0);
      expect(started.at(-1)).toBe(walk(0));
    } finally {
      t.stop();
    }
  });
});
