// Sealed records on real links (issue 13, protocol version 3): what a link sends in one
// event-loop turn goes out as one record, split only at RECORD_MAX_PLAIN; a graceful close
// still sends what the turn queued; a version-2 peer gets one frame per record. A FakePeer
// (the real Handshake and SecureChannel over a raw socket) counts the frames in each record
// the node's link sends. Each test fails when its rule is deleted from src/node/link.ts or
// src/node/channel.ts.

import { describe, expect, test } from "bun:test";
import type { Link, TransportEvents } from "../../src/core/transport.ts";
import type { PeerLink } from "../../src/node/link.ts";
import { type Gossip, type P2pMessage, encodeP2p } from "../../src/wire/p2p.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { defer, fakeKeys, testTransport, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;

/** A transport whose links answer every PING with a PONG, as the core does. */
async function node() {
  const up: Link[] = [];
  const got: P2pMessage[] = [];
  const violations: string[] = [];
  const events: TransportEvents = {
    established: (l) => void up.push(l),
    message: (l: Link, m: P2pMessage) => {
      got.push(m);
      if (m.kind === "ping") l.send({ kind: "pong" });
    },
    closed: () => {},
    violated: (_l, why) => void violations.push(why),
  };
  const { address } = await testTransport(events, () => up);
  return { address, up, got, violations };
}

/** A fake peer that joined (without its keepalive PINGs, which would add records), and its link on the node. */
async function joined(maxVersion?: number) {
  const n = await node();
  const p = defer(await FakePeer.connect(n.address), (x) => x.close());
  p.alive = false;
  await p.handshake((await fakeKeys(1))[0]!, { advertisedAddr: "127.0.0.1:9", ...(maxVersion ? { maxVersion } : {}) });
  await until(() => n.up.length === 1, 3000, "the link is up");
  return { p, link: n.up[0] as PeerLink, got: n.got, violations: n.violations };
}

const ping = () => encodeP2p({ kind: "ping" });
/** What the node sent after the handshake. */
const sealed = (p: FakePeer) => p.got.filter((m) => !["challenge", "welcome"].includes(m.kind));

describe("one record per turn (version 3)", () => {
  test("rule: the frames a link sends in one turn travel in one record", async () => {
    const { p, link } = await joined();
    expect(link.peer!.version).toBe(3);
    expect(p.version).toBe(3);
    // Three PINGs in one record: the node answers each in the same turn.
    p.raw(p.sealRaw([ping(), ping(), ping()]));
    await until(() => p.got.filter((m) => m.kind === "pong").length === 3, 3000, "three PONGs");
    expect(p.records).toEqual([3]);
  }, LIMIT);

  test("rule: a turn's frames beyond RECORD_MAX_PLAIN go into a further record, and each opens", async () => {
    const { p, link } = await joined();
    const big: Gossip = { kind: "gossip", id: new Uint8Array(16), ttl: 1, hops: 1, salt: new Uint8Array(16), dataType: 1, data: new Uint8Array(60_000) };
    for (let i = 0; i < 3; i++) link.send(big);
    await until(() => sealed(p).length === 3 || p.errors.length > 0, 3000, "three items");
    expect(p.errors).toEqual([]);
    expect(p.records).toEqual([2, 1]);
  }, LIMIT);

  test("rule: a graceful close still sends what the turn queued (a DISCONNECT before the socket shuts)", async () => {
    const { p, link } = await joined();
    link.send({ kind: "disconnect" });
    link.close("test: leaving", true);
    await p.whenClosed();
    expect(sealed(p).map((m) => m.kind)).toEqual(["disconnect"]);
  }, LIMIT);

  test("a frame sent while the link is closing is refused, not queued", async () => {
    const { p, link } = await joined();
    link.close("test: leaving", true);
    expect(link.send({ kind: "ping" })).toBe(false);
    await p.whenClosed();
    expect(sealed(p)).toEqual([]);
  }, LIMIT);
});

describe("receiving records", () => {
  test("rule: a record is checked whole before its frames are handled: well-formed PINGs before a bad inner frame are not", async () => {
    const { p, got, violations } = await joined();
    p.raw(p.sealRaw([ping(), ping(), Uint8Array.of(0, 0, 0, 3)]));
    await p.whenClosed();
    expect(got).toEqual([]);
    expect(violations).toEqual(["inner frame at offset 12: declared size 3 is below the minimum 6"]);
  }, LIMIT);

  test("frames of a record that opens are handed over in order", async () => {
    const { p, got } = await joined();
    p.raw(p.sealRaw([ping(), encodeP2p({ kind: "prune" }), encodeP2p({ kind: "pong" })]));
    await until(() => got.length === 3, 3000, "three messages");
    expect(got.map((m) => m.kind)).toEqual(["ping", "prune", "pong"]);
  }, LIMIT);

  test("rule: an item handed over holds copies of its fields, not views of the record (the core keeps items)", async () => {
    const { p, got } = await joined();
    const item: Gossip = { kind: "gossip", id: new Uint8Array(16).fill(1), ttl: 3, hops: 0, salt: new Uint8Array(16).fill(2), dataType: 540, data: new Uint8Array([9, 8, 7]) };
    p.raw(p.sealRaw([ping(), encodeP2p(item)]));
    await until(() => got.length === 2, 3000, "two messages");
    const m = got[1] as Gossip;
    expect(m).toEqual(item);
    for (const field of [m.id, m.salt, m.data]) expect(field.buffer.byteLength).toBe(field.byteLength);
  }, LIMIT);
});

describe("a version-2 peer (docs/PROTOCOL.md section 4.2)", () => {
  test("rule: a version-2 joiner gets a version-2 link: one frame per sealed frame, both ways", async () => {
    const { p, link } = await joined(2);
    expect(link.peer!.version).toBe(2);
    expect(p.version).toBe(2);
    // Three sealed frames in one write: three PONGs, each sealed alone although sent in one turn.
    p.raw(new Uint8Array([...p.sealRaw(ping()), ...p.sealRaw(ping()), ...p.sealRaw(ping())]));
    await until(() => p.got.filter((m) => m.kind === "pong").length === 3, 3000, "three PONGs");
    expect(p.records).toEqual([1, 1, 1]);
    expect(p.errors).toEqual([]);
  }, LIMIT);
});
