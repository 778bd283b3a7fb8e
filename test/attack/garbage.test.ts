// Garbage on both ports (issue 5): seeded fuzzing of the p2p and API listeners of a live
// node, thousands of cases, and declared frames never completed (slow loris). A local
// decoder is the oracle: input it rejects must get the connection closed with a log line,
// input it accepts must leave the connection open. Through all of it the node keeps serving
// an honest neighbour and subscriber, and its tables return to their size before.

import { describe, expect, test } from "bun:test";
import { type ModuleMessage, MODULE_FRAME, decodeModuleMessage, encodeApi } from "../../src/wire/api.ts";
import { concat } from "../../src/wire/bytes.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { P2P_FRAME, P2P_VERSION, decodeP2p, encodeP2p } from "../../src/wire/p2p.ts";
import { FakePeer, Rng } from "../helpers/fake-peer.ts";
import { RawModule, arena, defer, fakeKeys, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 30_000;
/** Data types the honest traffic uses (fuzz never subscribes to them: it would never answer)
 *  and the sync marks of the API fuzz. */
const SYNC = 61000;
const reservedType = (t: number) => (t >= 540 && t < 560) || (t >= SYNC && t < SYNC + 100);

type Expect = "closed" | "open" | "either";

/** What the node must do with `bytes` as the first thing on a fresh p2p connection. */
function p2pOracle(bytes: Uint8Array): Expect {
  let frames: Uint8Array[];
  try {
    frames = new FrameDecoder(P2P_FRAME).push(bytes);
  } catch {
    return "closed";
  }
  if (frames.length === 0) return "open"; // an incomplete frame: the node waits for the rest
  try {
    if (decodeP2p(frames[0]!).kind !== "hello") return "closed";
  } catch {
    return "closed";
  }
  // A decodable HELLO: refused (bad key, version...) or challenged; a second frame is out of turn.
  return frames.length > 1 ? "closed" : "either";
}

function p2pCase(rng: Rng, hello: Uint8Array): Uint8Array {
  switch (rng.int(0, 5)) {
    case 0: // pure noise
      return rng.bytes(rng.int(1, 64));
    case 1: {
      // a plausible header (size 6-200, a known or random type), a random body
      const size = rng.int(6, 200);
      const f = concat([new Uint8Array(4), rng.bytes(size - 4)]);
      new DataView(f.buffer).setUint32(0, size);
      if (rng.chance(0.7)) new DataView(f.buffer).setUint16(4, rng.int(1, 35));
      return rng.chance(0.2) ? f.subarray(0, rng.int(1, size - 1)) : f;
    }
    case 2: {
      // an honest HELLO with a few bytes changed
      const f = hello.slice();
      for (let i = rng.int(1, 3); i > 0; i--) f[rng.int(0, f.length - 1)] = rng.int(0, 255);
      return f;
    }
    case 3: // a well-formed message that has no business before the handshake
      return encodeP2p(
        [
          { kind: "join" as const },
          { kind: "ping" as const },
          { kind: "neighbor" as const, high: true },
          { kind: "gossip" as const, id: rng.bytes(16), ttl: 3, hops: 1, salt: rng.bytes(16), dataType: 540, data: rng.bytes(4) },
          { kind: "ihave" as const, entries: [{ id: rng.bytes(16), hops: 1 }] },
        ][rng.int(0, 4)]!,
      );
    case 4: // a size field out of bounds
      return concat([Uint8Array.of(rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), rng.int(0, 5)), rng.bytes(rng.int(0, 8))]);
    default: // a HELLO followed by noise
      return concat([hello, rng.bytes(rng.int(1, 32))]);
  }
}

describe("garbage on the p2p port", () => {
  test("1024 seeded cases: rejected input closes the connection with a log line, the rest wait; the node serves on", async () => {
    const { target, traffic, lines } = await arena({ max_handshakes: "256", keepalive_ms: "2000", handshake_timeout_ms: "5000" });
    const [key] = await fakeKeys(1);
    const hello = encodeP2p({ kind: "hello", version: P2P_VERSION, ephemeral: new Uint8Array(32).fill(5), addr: "127.0.0.1:9", publicKey: key!.publicKeyDer });
    const rng = new Rng(0xfa11);
    const counts = { closed: 0, open: 0, either: 0 };
    for (let batch = 0; batch < 16; batch++) {
      const cases = Array.from({ length: 64 }, () => p2pCase(rng, hello));
      const expected = cases.map(p2pOracle);
      const conns = await Promise.all(cases.map(() => FakePeer.connect(target.p2pAddress)));
      conns.forEach((c, i) => c.raw(cases[i]!));
      const settled = () =>
        conns.every((c, i) => (expected[i] === "closed" ? c.closed : expected[i] === "either" ? c.closed || c.got.length > 0 : true));
      await until(settled, 3000, `batch ${batch} (seed ${rng.seed}) handled`);
      await Bun.sleep(20);
      conns.forEach((c, i) => {
        const what = `batch ${batch} case ${i}: ${Buffer.from(cases[i]!.subarray(0, 24)).toString("hex")}`;
        counts[expected[i]!]++;
        if (expected[i] === "open") expect(c.closed, what).toBe(false);
        if (c.closed) expect(logged(lines, `remote=${c.remote}`, /closing peer link|link closed/).length, what).toBeGreaterThan(0);
        c.close();
      });
    }
    expect(counts.closed).toBeGreaterThan(500);
    expect(counts.open + counts.either).toBeGreaterThan(50);
    await until(() => sizes(target).links === 1, 3000, "every fuzz connection gone");
    expect(target.membership.active.size).toBe(1);
    await traffic.flowing();
  }, LIMIT);
});

/** A well-formed module message with random fields (never a reserved type). */
function apiCase(rng: Rng): Uint8Array {
  let type = rng.int(0, 65535);
  while (reservedType(type)) type = rng.int(0, 65535);
  const m: ModuleMessage = [
    { kind: "announce" as const, ttl: rng.int(0, 255), dataType: type, data: rng.bytes(rng.int(0, 100)) },
    { kind: "notify" as const, dataType: type },
    { kind: "validation" as const, id: rng.int(0, 65535), valid: rng.chance(0.5) },
  ][rng.int(0, 2)]!;
  const f = encodeApi(m);
  // Reserved bits set at random: they must be ignored.
  if (m.kind === "validation" && rng.chance(0.5)) f[6] = rng.int(0, 255);
  if (m.kind === "announce" && rng.chance(0.5)) f[5] = rng.int(0, 255);
  return f;
}

/** A random tail: anything from noise to frames that break one rule of the API. */
function apiTail(rng: Rng): Uint8Array {
  const sized = (size: number, type: number, body: Uint8Array) => {
    const f = concat([new Uint8Array(4), body]);
    new DataView(f.buffer).setUint16(0, size);
    new DataView(f.buffer).setUint16(2, type);
    return f;
  };
  switch (rng.int(0, 5)) {
    case 0:
      return rng.bytes(rng.int(1, 64));
    case 1: // a wrong size for NOTIFY or VALIDATION
      return sized(rng.int(4, 20), rng.chance(0.5) ? 501 : 503, rng.bytes(16)).subarray(0, rng.int(4, 20));
    case 2: // a NOTIFICATION, which only Gossip sends
      return sized(12, 502, rng.bytes(8));
    case 3: // a size below the header
      return Uint8Array.of(0, rng.int(0, 3), rng.int(0, 255), rng.int(0, 255));
    case 4: // an unknown type, or an ANNOUNCE below its minimum
      return rng.chance(0.5) ? sized(8, rng.int(0, 65535), rng.bytes(4)) : sized(rng.int(4, 7), 500, rng.bytes(3)).subarray(0, 7);
    default: // a valid frame cut short: the node waits for the rest
      return apiCase(rng).subarray(0, 3);
  }
}

/** closed / open for a tail sent after whole frames; null when it would subscribe to a reserved type. */
function apiOracle(tail: Uint8Array): Expect | null {
  try {
    for (const f of new FrameDecoder(MODULE_FRAME).push(tail)) {
      const m = decodeModuleMessage(f);
      if (m.kind === "notify" && reservedType(m.dataType)) return null;
    }
    return "open";
  } catch {
    return "closed";
  }
}

describe("garbage on the API port", () => {
  test("2000 seeded cases over 40 connections: valid frames are served, each bad tail closes only its connection, with a log line", async () => {
    const { target, traffic, lines } = await arena();
    const rng = new Rng(0xa91);
    const N = 40;
    const PER = 49;
    const mods = await RawModule.many(target.apiAddress, N);
    for (const m of mods) defer(m, (x) => x.close());
    const baseConns = sizes(target).apiConns - N;
    // 49 random well-formed messages each, then a NOTIFY for a type of its own (a sync mark),
    // written in random pieces.
    mods.forEach((m, i) => {
      const stream = concat([...Array.from({ length: PER }, () => apiCase(rng)), encodeApi({ kind: "notify", dataType: SYNC + i })]);
      for (let off = 0; off < stream.length; ) {
        const n = rng.int(1, 400);
        m.write(stream.subarray(off, off + n));
        off += n;
      }
    });
    await until(() => mods.every((_, i) => target.api.subscriberCount(SYNC + i) === 1), 5000, "every sync mark seen");
    expect(mods.every((m) => !m.closed)).toBe(true);

    // One last case each: a random tail, judged by the local decoder.
    const expected = mods.map((m) => {
      let tail = apiTail(rng);
      let e = apiOracle(tail);
      while (e === null) e = apiOracle((tail = apiTail(rng)));
      m.write(tail);
      return e;
    });
    const bad = expected.filter((e) => e === "closed").length;
    await until(() => mods.every((m, i) => expected[i] !== "closed" || m.closed), 3000, "every bad tail's connection closed");
    await Bun.sleep(50);
    mods.forEach((m, i) => expect(m.closed, `connection ${i}`).toBe(expected[i] === "closed"));
    expect(bad).toBeGreaterThan(10);
    expect(logged(lines, "protocol violation, closing module connection").length).toBe(bad);
    // A closed connection's subscriptions went with it.
    mods.forEach((m, i) => expect(target.api.subscriberCount(SYNC + i)).toBe(m.closed ? 0 : 1));
    for (const m of mods) m.close();
    await until(() => sizes(target).apiConns === baseConns, 3000, "every fuzz connection gone");
    expect(target.api.pendingCount).toBe(0);
    await traffic.flowing();
  }, LIMIT);
});

describe("slow loris on the API port: a declared frame never completed", () => {
  test("idle module connections are legitimate and kept; each costs the node only the bytes it sent; others are served", async () => {
    const { target, traffic } = await arena();
    const clients = () => [...(target.api as unknown as { clients: Set<{ decoder: { pending: number } }> }).clients];
    const base = sizes(target).apiConns;
    const loris = await RawModule.many(target.apiAddress, 50);
    for (const m of loris) defer(m, (x) => x.close());
    // Each declares a 65535-byte ANNOUNCE and sends 14 bytes of it.
    const head = Uint8Array.of(0xff, 0xff, 0x01, 0xf4, 0, 0, 0x02, 0x1c, 1, 2, 3, 4, 5, 6);
    for (const m of loris) m.write(head);
    await until(() => clients().filter((c) => c.decoder.pending === head.length).length === 50, 2000, "50 partial frames held");
    // One keeps dripping: the node holds exactly what arrived, nothing more.
    let sent = head.length;
    for (let i = 0; i < 10; i++) {
      loris[0]!.write(new Uint8Array(100));
      sent += 100;
      await Bun.sleep(10);
    }
    await until(() => clients().some((c) => c.decoder.pending === sent), 2000, "the dripped bytes held");
    expect(Math.max(...clients().map((c) => c.decoder.pending))).toBe(sent);
    expect(sizes(target).apiConns).toBe(base + 50);
    await traffic.flowing();
    expect(loris.every((m) => !m.closed)).toBe(true);
    for (const m of loris) m.close();
    await until(() => sizes(target).apiConns === base, 2000, "the loris connections gone");
  }, LIMIT);
});
