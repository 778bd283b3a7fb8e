// The secure channel (issue 5; records since issue 13): every frame after the handshake
// travels in a record sealed per direction with a counter nonce; tampering, replay,
// reordering, a dropped record and the wrong key all fail to open. Version 3 packs several
// frames per record, bounded by RECORD_MAX_PLAIN; version 2 seals each frame alone.

import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ChannelError, RECORD_MAX_PLAIN, SEALED_FRAME, SEALED_RECORD, SecureChannel, TAG_BYTES, splitRecord } from "../../src/node/channel.ts";
import { concat, toHex } from "../../src/wire/bytes.ts";
import { WireCode, WireError } from "../../src/wire/errors.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { P2P_MAX_FRAME, decodeP2p, encodeP2p, type P2pMessage } from "../../src/wire/p2p.ts";

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

function pair(version = 3): { joiner: SecureChannel; acceptor: SecureChannel } {
  return { joiner: new SecureChannel(key, true, version), acceptor: new SecureChannel(key, false, version) };
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

  test("a record hides the payload and carries size and tag (version 3: the whole frame inside; version 2: its size outside)", () => {
    const plain = encodeP2p(gossip);
    const record = pair().joiner.seal(plain);
    expect(record.byteLength).toBe(4 + plain.byteLength + TAG_BYTES);
    expect(new DataView(record.buffer, record.byteOffset).getUint32(0)).toBe(record.byteLength);
    expect(toHex(record)).not.toContain("deadbeef");
    expect(record.byteLength).toBeGreaterThanOrEqual(SEALED_RECORD.minSize);
    const sealed = pair(2).joiner.seal(plain);
    expect(sealed.byteLength).toBe(plain.byteLength + TAG_BYTES);
    expect(new DataView(sealed.buffer, sealed.byteOffset).getUint32(0)).toBe(sealed.byteLength);
    expect(sealed.byteLength).toBeGreaterThanOrEqual(SEALED_FRAME.minSize);
  });

  test("version 2 round-trips one frame per sealed frame, several back to back", () => {
    const { joiner, acceptor } = pair(2);
    const frames = [encodeP2p({ kind: "ping" }), encodeP2p(gossip), encodeP2p({ kind: "pong" })];
    const out = joiner.seal(frames);
    const got = new FrameDecoder(SEALED_FRAME).push(out).map((f) => toHex(acceptor.open(f)));
    expect(got).toEqual(frames.map(toHex));
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

  test("rule: a dropped record: the next one fails to open", () => {
    const { joiner, acceptor } = pair();
    const a = joiner.seal([encodeP2p({ kind: "ping" }), encodeP2p({ kind: "pong" })]);
    joiner.seal(encodeP2p(gossip)); // record 1 never arrives
    const c = joiner.seal(encodeP2p({ kind: "ping" }));
    expect(splitRecord(acceptor.open(a)).length).toBe(2);
    expect(openError(() => acceptor.open(c))).toBe("channel error");
  });

  test("rule: another session key fails", () => {
    const { joiner } = pair();
    const other = new SecureChannel(new Uint8Array(randomBytes(32)), false);
    expect(openError(() => other.open(joiner.seal(encodeP2p({ kind: "ping" }))))).toBe("channel error");
  });
});

describe("records (version 3)", () => {
  const frames = [encodeP2p({ kind: "ping" }), encodeP2p(gossip), encodeP2p({ kind: "prune" })];

  test("rule: every frame of one seal() goes in one record, one nonce, opened back into the same frames", () => {
    const { joiner, acceptor } = pair();
    const out = joiner.seal(frames);
    const records = new FrameDecoder(SEALED_RECORD).push(out);
    expect(records.length).toBe(1);
    expect(out.byteLength).toBe(4 + frames.reduce((n, f) => n + f.byteLength, 0) + TAG_BYTES);
    const inner = splitRecord(acceptor.open(records[0]!));
    expect(inner.map(toHex)).toEqual(frames.map(toHex));
    expect(decodeP2p(inner[1]!)).toEqual(gossip);
    // The next record takes the next nonce on both sides.
    expect(toHex(acceptor.open(joiner.seal(frames[0]!)))).toBe(toHex(frames[0]!));
  });

  test("rule: inner frames are views of the opened record, not copies", () => {
    const { joiner, acceptor } = pair();
    const plain = acceptor.open(joiner.seal(frames));
    for (const f of splitRecord(plain)) expect(f.buffer).toBe(plain.buffer);
  });

  test("rule: frames past RECORD_MAX_PLAIN go into further records, in order, each within the record size limit", () => {
    expect(RECORD_MAX_PLAIN).toBe(P2P_MAX_FRAME);
    const big = (fill: number) => {
      const f = encodeP2p({ ...gossip, data: new Uint8Array(60_000).fill(fill) } as P2pMessage);
      return f;
    };
    const max = new Uint8Array(P2P_MAX_FRAME);
    new DataView(max.buffer).setUint32(0, P2P_MAX_FRAME);
    max[5] = 0x23; // a PRUNE-typed frame of the largest size: only the size matters here
    const sent = [big(1), big(2), big(3), encodeP2p({ kind: "ping" }), max, encodeP2p({ kind: "pong" })];
    const { joiner, acceptor } = pair();
    const out = joiner.seal(sent);
    const records = new FrameDecoder(SEALED_RECORD).push(out);
    const split = records.map((r) => splitRecord(acceptor.open(r)));
    // 2 x 60042 fit 131072; the third and the PING share the next; the largest frame is alone.
    expect(split.map((r) => r.length)).toEqual([2, 2, 1, 1]);
    expect(split.flat().map(toHex)).toEqual(sent.map(toHex));
    for (const r of records) expect(r.byteLength).toBeLessThanOrEqual(SEALED_RECORD.maxSize);
    expect(records[2]!.byteLength).toBe(SEALED_RECORD.maxSize);
  });

  test("an empty seal() writes nothing and spends no nonce", () => {
    const { joiner, acceptor } = pair();
    expect(joiner.seal([]).byteLength).toBe(0);
    expect(toHex(acceptor.open(joiner.seal(frames[0]!)))).toBe(toHex(frames[0]!));
  });

  test("rule: a record failing authentication names the record, with a stable code", () => {
    const { joiner, acceptor } = pair();
    const r = joiner.seal(frames);
    r[r.byteLength - 1]! ^= 1;
    try {
      acceptor.open(r);
      throw new Error("opened");
    } catch (e) {
      expect(e).toBeInstanceOf(ChannelError);
      expect((e as WireError).code).toBe(WireCode.BadValue);
      expect((e as Error).message).toContain("sealed record failed authentication");
    }
  });
});

describe("inner frames of an opened record (splitRecord)", () => {
  const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  const ping = encodeP2p({ kind: "ping" });
  function code(plain: Uint8Array): string {
    try {
      splitRecord(plain);
    } catch (e) {
      if (e instanceof WireError) return `${e.code}: ${e.message}`;
      throw e;
    }
    return "ok";
  }

  test("rule: an empty record is ERR_FRAME_TOO_SMALL", () => {
    expect(code(new Uint8Array(0))).toBe("ERR_FRAME_TOO_SMALL: sealed record carries no frame");
  });

  test("rule: fewer than 4 bytes after the last frame is ERR_TRUNCATED", () => {
    for (let k = 1; k < 4; k++) expect(code(concat([ping, new Uint8Array(k)]))).toStartWith("ERR_TRUNCATED: inner frame at offset 6");
  });

  test("rule: an inner frame running past the end of the record is ERR_TRUNCATED", () => {
    expect(code(concat([ping, u32(7), Uint8Array.of(0, 0x17)]))).toBe("ERR_TRUNCATED: inner frame at offset 6: declared size 7 runs past the end of the 12-byte record");
    expect(code(ping.subarray(0, 5))).toStartWith("ERR_TRUNCATED");
  });

  test("rule: an inner size below the 6-byte header is ERR_FRAME_TOO_SMALL", () => {
    for (const n of [5, 4, 0]) expect(code(concat([u32(n), new Uint8Array(8).fill(0xff)]))).toBe(`ERR_FRAME_TOO_SMALL: inner frame at offset 0: declared size ${n} is below the minimum 6`);
  });

  test("rule: an inner size above P2P_MAX_FRAME is ERR_FRAME_TOO_LARGE (before the bytes are looked for)", () => {
    expect(code(concat([ping, u32(P2P_MAX_FRAME + 1), new Uint8Array(2)]))).toBe(`ERR_FRAME_TOO_LARGE: inner frame at offset 6: declared size ${P2P_MAX_FRAME + 1} is above the maximum ${P2P_MAX_FRAME}`);
  });

  test("any bytes split into frames or raise a WireError (seeded fuzz)", () => {
    let x = 12345;
    const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) & 255;
    for (let i = 0; i < 3000; i++) {
      const n = rnd() % 40;
      const b = Uint8Array.from({ length: n }, () => (rnd() < 200 ? 0 : rnd() % 16));
      const r = code(b);
      if (r === "ok") expect(splitRecord(b).reduce((k, f) => k + f.byteLength, 0)).toBe(n);
    }
  });
});
