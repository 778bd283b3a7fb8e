// What a framing error after the handshake costs the peer (docs/PROTOCOL.md 2.3, 5.13): only
// what opened under the session key is the peer's own doing. A record's outer size field is
// outside the authenticated bytes, so anyone on the path can break it: it closes the link and
// never costs score, whether it arrived in the same read as an authenticated record or in a
// read of its own. A PeerLink runs its handshake here against a joiner driven by the test over
// a fake connection, and is fed the chunks exactly as the test cuts them: no sockets, no timing.

import { describe, expect, test } from "bun:test";
import type { Conn } from "../../src/net/conn.ts";
import { SecureChannel } from "../../src/node/channel.ts";
import { Handshake } from "../../src/node/handshake.ts";
import { PeerLink } from "../../src/node/link.ts";
import { Logger } from "../../src/util/log.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { P2P_FRAME, decodeP2p, encodeP2p } from "../../src/wire/p2p.ts";
import { testKeys } from "../helpers/testnet.ts";

/** An acceptor's PeerLink, handshaken with a joiner whose sealing side the test holds. */
async function openLink() {
  const [ours, theirs] = await testKeys(2);
  const violated: string[] = [];
  let closed: string | null = null;
  let joiner!: Handshake;
  const fromLink = new FrameDecoder(P2P_FRAME);
  let handshaking = true;
  const conn = {
    id: 1,
    remote: "127.0.0.1:40000",
    writable: true,
    queuedBytes: 0,
    send(bytes: Uint8Array): boolean {
      // The acceptor's handshake frames go to the joiner; nothing else is looked at.
      if (handshaking) for (const f of fromLink.push(bytes)) joiner.receive(decodeP2p(f));
      return true;
    },
    close(reason: string): void {
      link.onClose(reason);
    },
    end(reason: string): Promise<void> {
      link.onClose(reason);
      return Promise.resolve();
    },
  } as unknown as Conn;
  const link: PeerLink = new PeerLink(
    false,
    { hostkey: ours!, advertisedAddr: "127.0.0.1:6001", powBits: 0, timeoutMs: 10_000, admit: () => null },
    new Logger("silent", "t"),
    {
      established: () => {},
      message: () => {},
      closed: (_l, reason) => void (closed = reason),
      violated: (_l, why) => void violated.push(why),
    },
  );
  joiner = new Handshake("initiator", { hostkey: theirs!, advertisedAddr: "127.0.0.1:6002", powBits: 0, timeoutMs: 10_000 }, (m) => link.onData(encodeP2p(m)));
  link.attach(conn);
  joiner.start();
  const r = await joiner.result;
  handshaking = false;
  expect(link.state).toBe("open");
  const channel = new SecureChannel(r.sessionKey, true, r.version);
  return { link, channel, violated, closed: () => closed };
}

const ping = () => encodeP2p({ kind: "ping" });
/** A record size field of 0: below the minimum (ERR_FRAME_TOO_SMALL), refused before any body. */
const badSize = new Uint8Array([0, 0, 0, 0]);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

describe("a bad outer record size costs no score, however TCP split the bytes", () => {
  test("rule: a good record and a bad size field in one read: the link is closed, the peer not charged", async () => {
    const { link, channel, violated, closed } = await openLink();
    link.onData(concat(channel.seal([ping()]), badSize));
    expect(closed()).toContain("declared frame size 0 is below the minimum");
    expect(violated).toEqual([]);
  });

  test("rule: a good record, then a bad size field in the next read: the link is closed, the peer not charged", async () => {
    const { link, channel, violated, closed } = await openLink();
    link.onData(channel.seal([ping()]));
    expect(closed()).toBeNull();
    link.onData(badSize);
    expect(closed()).toContain("declared frame size 0 is below the minimum");
    expect(violated).toEqual([]);
  });

  test("rule: an oversized size field right after a good record, in one read: not charged either", async () => {
    const { link, channel, violated, closed } = await openLink();
    link.onData(concat(channel.seal([ping()]), new Uint8Array([0xff, 0xff, 0xff, 0xff])));
    expect(closed()).toContain("above the maximum");
    expect(violated).toEqual([]);
  });

  test("rule: a record that opens but carries a malformed frame is the peer's own doing: charged", async () => {
    const { link, channel, violated, closed } = await openLink();
    link.onData(concat(channel.seal([ping()]), channel.seal([new Uint8Array([0, 0, 0, 6, 0x7f, 0x7f])])));
    expect(closed()).not.toBeNull();
    expect(violated.length).toBe(1);
  });
});
