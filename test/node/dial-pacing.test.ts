// Dials are paced in the TCP transport (issue 9): each handshake of ours solves a proof of
// work on the one event-loop thread, so a node that dialled every missing neighbour at once
// had them all time out together.

import { expect, test } from "bun:test";
import { MAX_DIALS_AT_ONCE, TcpTransport } from "../../src/net/peer-transport.ts";
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
