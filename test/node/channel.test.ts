// The secure channel (issue 5): every frame after the handshake is sealed per direction with
// a counter nonce; tampering, replay, reordering and the wrong key all fail to open.

import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ChannelError, SEALED_FRAME, SecureChannel, TAG_BYTES } from "../../src/node/channel.ts";
import { toHex } from "../../src/wire/bytes.ts";
import { decodeP2p, encodeP2p, type P2pMessage } from "../../src/wire/p2p.ts";

const key = new Uint8Array(randomBytes(32));
const gossip: P2pMessage = {
  kind: "gossip",
  id: new Uint8Array(16).fill(7),
  ttl: 3,
  hops: 1,
  salt: new Uint8Array(16).fill(8),
  dataType: 1337,
  data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
};

function pair(): { joiner: SecureChannel; acceptor: SecureChannel } {
  return { joiner: new SecureChannel(key, true), acceptor: new SecureChannel(key, false) };
}

function openError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ChannelError) return "channel error";
    throw e;
  }
  return "opened";
}

describe("secure channel", () => {
  test("frames round-trip in both directions, in order", () => {
    const { joiner, acceptor } = pair();
    for (let i = 0; i < 5; i++) {
      const a = encodeP2p({ kind: "ping" });
      expect(acceptor.open(joiner.seal(a))).toEqual(a);
      const b = encodeP2p(gossip);
      expect(decodeP2p(joiner.open(acceptor.seal(b)))).toEqual(gossip);
    }
  });

  test("a sealed frame hides the payload and carries size and tag", () => {
    const { joiner } = pair();
    const plain = encodeP2p(gossip);
    const sealed = joiner.seal(plain);
    expect(sealed.byteLength).toBe(plain.byteLength + TAG_BYTES);
    expect(new DataView(sealed.buffer, sealed.byteOffset).getUint32(0)).toBe(sealed.byteLength);
    expect(toHex(sealed)).not.toContain("deadbeef");
    expect(sealed.byteLength).toBeGreaterThanOrEqual(SEALED_FRAME.minSize);
  });

  test("rule: a frame tampered with in flight fails to open (every byte position)", () => {
    const plain = encodeP2p(gossip);
    const probe = pair().joiner.seal(plain);
    for (let i = 0; i < probe.byteLength; i++) {
      const { joiner, acceptor } = pair();
      const sealed = joiner.seal(plain);
      sealed[i]! ^= 0x01;
      expect(openError(() => acceptor.open(sealed)), `byte ${i}`).toBe("channel error");
    }
  });

  test("rule: a replayed frame fails to open", () => {
    const { joiner, acceptor } = pair();
    const s = joiner.seal(encodeP2p({ kind: "ping" }));
    acceptor.open(s);
    expect(openError(() => acceptor.open(s))).toBe("channel error");
  });

  test("rule: frames out of order (or one dropped) fail to open", () => {
    const { joiner, acceptor } = pair();
    joiner.seal(encodeP2p({ kind: "ping" })); // frame 0 never arrives
    const second = joiner.seal(encodeP2p({ kind: "pong" }));
    expect(openError(() => acceptor.open(second))).toBe("channel error");
  });

  test("rule: each direction has its own key (a reflected frame fails)", () => {
    const { joiner } = pair();
    const mirror = new SecureChannel(key, true);
    const s = joiner.seal(encodeP2p({ kind: "ping" }));
    expect(openError(() => mirror.open(s))).toBe("channel error");
  });

  test("rule: another session key fails", () => {
    const { joiner } = pair();
    const other = new SecureChannel(new Uint8Array(randomBytes(32)), false);
    expect(openError(() => other.open(joiner.seal(encodeP2p({ kind: "ping" }))))).toBe("channel error");
  });
});
