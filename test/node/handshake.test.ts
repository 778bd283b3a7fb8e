// The join handshake (src/node/handshake.ts): two state machines wired in memory through
// the real codec (encodeP2p -> bytes -> decodeP2p), with a hook to tamper with frames in
// flight. Each test names the rule it checks.

import { beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { generateHostkey, type Hostkey } from "../../src/config/hostkey.ts";
import { Handshake, HandshakeError, type HandshakeOptions, type HandshakeResult, HsCode, downgradeMark } from "../../src/node/handshake.ts";
import { verifyWork } from "../../src/node/pow.ts";
import { equalBytes } from "../../src/wire/bytes.ts";
import { P2P_MIN_VERSION, P2P_VERSION, decodeP2p, encodeP2p, type P2pMessage } from "../../src/wire/p2p.ts";

type Side = "joiner" | "acceptor";
type Tamper = (from: Side, frame: Uint8Array) => Uint8Array;

const JOINER_ADDR = "127.0.0.1:6002";
const ACCEPTOR_ADDR = "127.0.0.1:6001";

let joinerKey: Hostkey;
let acceptorKey: Hostkey;

beforeAll(async () => {
  [joinerKey, acceptorKey] = await Promise.all([generateHostkey(1024), generateHostkey(1024)]);
});

interface Run {
  readonly joiner: Handshake;
  readonly acceptor: Handshake;
  /** Every message as it went on the wire (before tampering), in order. */
  readonly sent: { from: Side; m: P2pMessage }[];
  readonly joinerResult: Promise<Outcome>;
  readonly acceptorResult: Promise<Outcome>;
}

type Outcome = { ok: true; value: HandshakeResult } | { ok: false; error: HandshakeError };

async function outcome(p: Promise<HandshakeResult>): Promise<Outcome> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    if (!(e instanceof HandshakeError)) throw e;
    return { ok: false, error: e };
  }
}

function opts(hostkey: Hostkey, addr: string, extra: Partial<HandshakeOptions>): HandshakeOptions {
  return { hostkey, advertisedAddr: addr, powBits: 4, timeoutMs: 5000, ...extra };
}

/** Starts a joiner and an acceptor talking through the codec; deliveries are async. */
function run(joinerOpts: Partial<HandshakeOptions> = {}, acceptorOpts: Partial<HandshakeOptions> = {}, tamper?: Tamper): Run {
  const sent: { from: Side; m: P2pMessage }[] = [];
  const sides = {} as Record<Side, Handshake>;
  const link = (from: Side) => (m: P2pMessage) => {
    let frame = encodeP2p(m);
    sent.push({ from, m: decodeP2p(frame.slice()) });
    if (tamper) frame = tamper(from, frame);
    const to = sides[from === "joiner" ? "acceptor" : "joiner"];
    queueMicrotask(() => to.receive(decodeP2p(frame)));
  };
  sides.joiner = new Handshake("initiator", opts(joinerKey, JOINER_ADDR, joinerOpts), link("joiner"));
  sides.acceptor = new Handshake("acceptor", opts(acceptorKey, ACCEPTOR_ADDR, acceptorOpts), link("acceptor"));
  sides.acceptor.start();
  sides.joiner.start();
  return {
    joiner: sides.joiner,
    acceptor: sides.acceptor,
    sent,
    joinerResult: outcome(sides.joiner.result),
    acceptorResult: outcome(sides.acceptor.result),
  };
}

/** Rewrites one decoded message of a given kind from a given side. */
function edit(side: Side, kind: P2pMessage["kind"], fn: (m: any) => P2pMessage): Tamper {
  return (from, frame) => {
    if (from !== side) return frame;
    const m = decodeP2p(frame);
    return m.kind === kind ? encodeP2p(fn(m)) : frame;
  };
}

function failed(o: Outcome): HandshakeError {
  if (o.ok) throw new Error("expected the handshake to fail, it succeeded");
  return o.error;
}

function succeeded(o: Outcome): HandshakeResult {
  if (!o.ok) throw new Error(`expected success, got ${o.error.code}: ${o.error.message}`);
  return o.value;
}

describe("handshake success", () => {
  test("both sides agree on identities, addresses and the session key", async () => {
    const r = run();
    const j = succeeded(await r.joinerResult);
    const a = succeeded(await r.acceptorResult);
    expect(j.initiator).toBe(true);
    expect(a.initiator).toBe(false);
    expect(j.peerIdHex).toBe(acceptorKey.idHex);
    expect(a.peerIdHex).toBe(joinerKey.idHex);
    expect(equalBytes(j.peerId, acceptorKey.id)).toBe(true);
    expect(equalBytes(a.peerId, joinerKey.id)).toBe(true);
    expect(j.peerAddr).toBe(ACCEPTOR_ADDR);
    expect(a.peerAddr).toBe(JOINER_ADDR);
    expect(equalBytes(j.peerKeyDer, acceptorKey.publicKeyDer)).toBe(true);
    expect(equalBytes(a.peerKeyDer, joinerKey.publicKeyDer)).toBe(true);
    expect(j.sessionKey.length).toBe(32);
    expect(equalBytes(j.sessionKey, a.sessionKey)).toBe(true);
    expect(r.sent.map((s) => `${s.from}:${s.m.kind}`)).toEqual([
      "joiner:hello",
      "acceptor:challenge",
      "joiner:proof",
      "acceptor:welcome",
    ]);
  });

  test("the proof solves the acceptor's puzzle, bound to its nonce and both ids", async () => {
    const r = run({}, { powBits: 8 });
    succeeded(await r.acceptorResult);
    const c = r.sent.find((s) => s.m.kind === "challenge")!.m as Extract<P2pMessage, { kind: "challenge" }>;
    const p = r.sent.find((s) => s.m.kind === "proof")!.m as Extract<P2pMessage, { kind: "proof" }>;
    expect(c.powBits).toBe(8);
    expect(verifyWork(c.nonce, joinerKey.id, acceptorKey.id, p.work, 8)).toBe(true);
  });

  test("each handshake has a fresh session key", async () => {
    const [r1, r2] = [run(), run()];
    const k1 = succeeded(await r1.joinerResult).sessionKey;
    const k2 = succeeded(await r2.joinerResult).sessionKey;
    expect(equalBytes(k1, k2)).toBe(false);
  });
});

describe("handshake failures", () => {
  test("acceptor refuses a work that does not solve the puzzle (ERR_HS_WORK), joiner sees REFUSE", async () => {
    let nonce = new Uint8Array(0);
    const r = run({}, { powBits: 8 }, (from, frame) => {
      const m = decodeP2p(frame);
      if (m.kind === "challenge") nonce = m.nonce.slice();
      if (m.kind !== "proof") return frame;
      let work = m.work + 1n;
      while (verifyWork(nonce, joinerKey.id, acceptorKey.id, work, 8)) work++;
      return encodeP2p({ ...m, work });
    });
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Work);
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Refused);
    expect(j.message).toContain("proof of work");
  });

  test("work is checked before the signature: bad work and garbage signature is ERR_HS_WORK", async () => {
    let nonce = new Uint8Array(0);
    const r = run({}, { powBits: 8 }, (from, frame) => {
      const m = decodeP2p(frame);
      if (m.kind === "challenge") nonce = m.nonce.slice();
      if (m.kind !== "proof") return frame;
      let work = 0n;
      while (verifyWork(nonce, joinerKey.id, acceptorKey.id, work, 8)) work++;
      return encodeP2p({ ...m, work, signature: new Uint8Array(3) });
    });
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Work);
  });

  test("a PROOF signature with one byte flipped is ERR_HS_SIGNATURE", async () => {
    const r = run({}, {}, (from, frame) => {
      if (decodeP2p(frame).kind !== "proof") return frame;
      const out = frame.slice();
      out[out.length - 1]! ^= 0x01;
      return out;
    });
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Signature);
    expect(failed(await r.joinerResult).code).toBe(HsCode.Refused);
  });

  test("a WELCOME signature with one byte flipped is ERR_HS_SIGNATURE on the joiner", async () => {
    const r = run({}, {}, (from, frame) => {
      if (decodeP2p(frame).kind !== "welcome") return frame;
      const out = frame.slice();
      out[out.length - 1]! ^= 0x80;
      return out;
    });
    expect(failed(await r.joinerResult).code).toBe(HsCode.Signature);
    // The acceptor finished its side; the joiner's REFUSE arrives after that and is ignored.
    succeeded(await r.acceptorResult);
  });

  test("the joiner's signature reflected as the WELCOME is refused (role labels differ)", async () => {
    let proofSig = new Uint8Array(0);
    const r = run({}, {}, (from, frame) => {
      const m = decodeP2p(frame);
      if (m.kind === "proof") proofSig = m.signature.slice();
      return m.kind === "welcome" ? encodeP2p({ kind: "welcome", signature: proofSig }) : frame;
    });
    expect(failed(await r.joinerResult).code).toBe(HsCode.Signature);
  });

  test("rule: version 2 (item ids bound to content) refuses a version-1 joiner, whose GOSSIP it could not check, with the reason", async () => {
    expect(P2P_MIN_VERSION).toBe(2);
    const r = run({}, {}, edit("joiner", "hello", (m) => ({ ...m, version: 1 })));
    const a = failed(await r.acceptorResult);
    expect(a.code).toBe(HsCode.Version);
    expect(a.message).toBe("unsupported version 1");
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Refused);
    expect(j.message).toContain("unsupported version 1");
  });

  test("rule: joiner refuses a CHALLENGE version above what its HELLO offered (ERR_HS_VERSION)", async () => {
    const r = run({}, {}, edit("acceptor", "challenge", (m) => ({ ...m, version: 7 })));
    expect(failed(await r.joinerResult).code).toBe(HsCode.Version);
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Refused);
    const low = run({ maxVersion: 2 }, { maxVersion: 2 }, edit("acceptor", "challenge", (m) => ({ ...m, version: 3 })));
    expect(failed(await low.joinerResult).message).toBe("unsupported version 3");
  });

  test("rule: joiner refuses a CHALLENGE version below version 2 (ERR_HS_VERSION)", async () => {
    const r = run({}, {}, edit("acceptor", "challenge", (m) => ({ ...m, version: 1 })));
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Version);
    expect(j.message).toBe("unsupported version 1");
  });
});

describe("handshake failures, continued", () => {
  const badKeys: readonly [string, () => Uint8Array][] = [
    ["garbage bytes", () => new TextEncoder().encode("not a key")],
    ["an EC key", () => new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" }))],
    ["an RSA key under 1024 bits", () => new Uint8Array(generateKeyPairSync("rsa", { modulusLength: 512 }).publicKey.export({ type: "spki", format: "der" }))],
    ["non-canonical DER (a trailing byte)", () => Uint8Array.from([...joinerKey.publicKeyDer, 0])],
  ];
  for (const [name, key] of badKeys) {
    test(`acceptor refuses a HELLO key that is ${name} (ERR_HS_KEY)`, async () => {
      const r = run({}, {}, edit("joiner", "hello", (m) => ({ ...m, publicKey: key() })));
      expect(failed(await r.acceptorResult).code).toBe(HsCode.Key);
      expect(failed(await r.joinerResult).code).toBe(HsCode.Refused);
    });
  }

  test("joiner refuses a CHALLENGE key that is garbage (ERR_HS_KEY)", async () => {
    const r = run({}, {}, edit("acceptor", "challenge", (m) => ({ ...m, publicKey: new Uint8Array(40) })));
    expect(failed(await r.joinerResult).code).toBe(HsCode.Key);
  });

  test("a peer claiming our own identity is refused (ERR_HS_SELF)", async () => {
    const r = run({ hostkey: acceptorKey });
    const a = failed(await r.acceptorResult);
    expect(a.code).toBe(HsCode.Self);
    expect(a.message).toBe("peer claims our own identity");
    // The joiner, refused for that reason, learns that it dialled itself.
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Self);
    expect(j.message).toContain("the peer is this node");
  });

  test("a REFUSE in any state fails the handshake with the peer's reason, and is not answered", async () => {
    const sent: P2pMessage[] = [];
    const h = new Handshake("acceptor", opts(acceptorKey, ACCEPTOR_ADDR, {}), (m) => sent.push(m));
    h.start();
    h.receive({ kind: "refuse", reason: "go away" });
    const e = failed(await outcome(h.result));
    expect(e.code).toBe(HsCode.Refused);
    expect(e.message).toBe('refused by peer: "go away"');
    expect(sent).toEqual([]);
  });

  test("a message not expected in the state fails it (ERR_HS_UNEXPECTED) and REFUSEs", async () => {
    const sent: P2pMessage[] = [];
    const h = new Handshake("acceptor", opts(acceptorKey, ACCEPTOR_ADDR, {}), (m) => sent.push(m));
    h.start();
    h.receive({ kind: "ping" });
    const e = failed(await outcome(h.result));
    expect(e.code).toBe(HsCode.Unexpected);
    expect(e.message).toBe("unexpected PING in state await-hello");
    expect(sent).toEqual([{ kind: "refuse", reason: "unexpected PING in state await-hello" }]);
  });

  test("a second HELLO is unexpected once the CHALLENGE is out", async () => {
    const r = run({}, {}, (from, frame) => {
      if (from === "joiner" && decodeP2p(frame).kind === "hello") {
        const again = decodeP2p(frame);
        queueMicrotask(() => r.acceptor.receive(again));
      }
      return frame;
    });
    const a = failed(await r.acceptorResult);
    expect(a.code).toBe(HsCode.Unexpected);
    expect(a.message).toBe("unexpected HELLO in state await-proof");
  });

  test("no answer before the deadline fails it (ERR_HS_TIMEOUT)", async () => {
    const sent: P2pMessage[] = [];
    const h = new Handshake("acceptor", opts(acceptorKey, ACCEPTOR_ADDR, { timeoutMs: 20 }), (m) => sent.push(m));
    h.start();
    const e = failed(await outcome(h.result));
    expect(e.code).toBe(HsCode.Timeout);
    expect(e.message).toBe("handshake timed out");
    expect(sent).toEqual([{ kind: "refuse", reason: "handshake timed out" }]);
  });

  test("the deadline also stops a joiner that is still solving", async () => {
    const r = run({ maxPowBits: 60, timeoutMs: 50 }, { powBits: 60 });
    expect(failed(await r.joinerResult).code).toBe(HsCode.Timeout);
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Refused);
    expect(r.sent.some((s) => s.m.kind === "proof")).toBe(false);
  });

  test("joiner refuses a difficulty above maxPowBits (ERR_HS_DIFFICULTY)", async () => {
    const r = run({ maxPowBits: 8 }, { powBits: 9 });
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Difficulty);
    expect(j.message).toContain("difficulty too high");
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Refused);
  });

  test("the acceptor's admit hook refuses with its reason (ERR_HS_ADMIT) before any CHALLENGE", async () => {
    const seen: [string, string][] = [];
    const admit = (id: string, addr: string) => {
      seen.push([id, addr]);
      return "already connected";
    };
    const r = run({}, { admit });
    const a = failed(await r.acceptorResult);
    expect(a.code).toBe(HsCode.Admit);
    expect(a.message).toBe("already connected");
    expect(seen).toEqual([[joinerKey.idHex, JOINER_ADDR]]);
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Refused);
    expect(j.message).toBe('refused by peer: "already connected"');
    expect(r.sent.some((s) => s.m.kind === "challenge")).toBe(false);
  });

  test("the joiner's admit hook sees the acceptor and can refuse before solving", async () => {
    const seen: [string, string][] = [];
    const r = run({ admit: (id, addr) => (seen.push([id, addr]), "banned") });
    expect(failed(await r.joinerResult).code).toBe(HsCode.Admit);
    expect(seen).toEqual([[acceptorKey.idHex, ACCEPTOR_ADDR]]);
    expect(r.sent.some((s) => s.m.kind === "proof")).toBe(false);
  });

  test("abort fails it (ERR_HS_ABORTED) without sending anything", async () => {
    const sent: P2pMessage[] = [];
    const h = new Handshake("initiator", opts(joinerKey, JOINER_ADDR, {}), (m) => sent.push(m));
    h.start();
    h.abort("connection closed");
    const e = failed(await outcome(h.result));
    expect(e.code).toBe(HsCode.Aborted);
    expect(e.message).toBe("connection closed");
    expect(sent.map((m) => m.kind)).toEqual(["hello"]);
  });

  test("messages after the handshake settled are ignored", async () => {
    const sent: P2pMessage[] = [];
    const h = new Handshake("acceptor", opts(acceptorKey, ACCEPTOR_ADDR, {}), (m) => sent.push(m));
    h.start();
    h.abort("closed");
    h.receive({ kind: "ping" });
    expect(failed(await outcome(h.result)).code).toBe(HsCode.Aborted);
    expect(sent).toEqual([]);
  });
});

describe("version negotiation (docs/PROTOCOL.md section 4.2)", () => {
  test("two version-3 sides run version 3; the nonce is not marked", async () => {
    expect(P2P_VERSION).toBe(3);
    const r = run();
    expect(succeeded(await r.joinerResult).version).toBe(3);
    expect(succeeded(await r.acceptorResult).version).toBe(3);
    const c = r.sent.find((x) => x.m.kind === "challenge")!.m;
    expect(c.kind === "challenge" && c.version).toBe(3);
    expect(c.kind === "challenge" && downgradeMark(c.nonce)).toBe(0);
  });

  test("rule: the link runs the lower of both sides' versions: a version-2 joiner meets a version-3 acceptor, which marks its nonce", async () => {
    const r = run({ maxVersion: 2 });
    const j = succeeded(await r.joinerResult);
    const a = succeeded(await r.acceptorResult);
    expect([j.version, a.version]).toEqual([2, 2]);
    expect(equalBytes(j.sessionKey, a.sessionKey)).toBe(true);
    const hello = r.sent.find((x) => x.m.kind === "hello")!.m;
    expect(hello.kind === "hello" && hello.version).toBe(2);
    const c = r.sent.find((x) => x.m.kind === "challenge")!.m;
    expect(c.kind === "challenge" && [c.version, downgradeMark(c.nonce)]).toEqual([2, 3]);
  });

  test("rule: a version-3 joiner meets an acceptor whose highest is 2: version 2, no mark", async () => {
    const r = run({}, { maxVersion: 2 });
    expect(succeeded(await r.joinerResult).version).toBe(2);
    expect(succeeded(await r.acceptorResult).version).toBe(2);
  });

  test("rule: a HELLO offering more than we speak gets our highest", async () => {
    const r = run({}, {}, edit("joiner", "hello", (m) => ({ ...m, version: 9 })));
    expect(succeeded(await r.acceptorResult).version).toBe(3);
    expect(succeeded(await r.joinerResult).version).toBe(3);
  });
});

describe("downgrade by a man in the middle (docs/PROTOCOL.md section 4.2)", () => {
  test("rule: a HELLO whose offer is lowered to 2: the acceptor marks its nonce and the joiner refuses (ERR_HS_VERSION)", async () => {
    const r = run({}, {}, edit("joiner", "hello", (m) => ({ ...m, version: 2 })));
    const j = failed(await r.joinerResult);
    expect(j.code).toBe(HsCode.Version);
    expect(j.message).toContain("downgrade");
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Refused);
  });

  test("rule: ... and the mark cannot be removed: the nonce is bound by the work and th", async () => {
    const lower = edit("joiner", "hello", (m) => ({ ...m, version: 2 }));
    const unmark = edit("acceptor", "challenge", (m) => {
      const nonce = new Uint8Array(m.nonce);
      nonce.fill(0x77, 24);
      return { ...m, nonce };
    });
    const r = run({}, { powBits: 0 }, (from, f) => unmark(from, lower(from, f)));
    // The joiner sees no mark and goes on with version 2; the acceptor's nonce was another.
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Signature);
    expect(failed(await r.joinerResult).code).toBe(HsCode.Refused);
  });

  test("rule: a CHALLENGE whose version is lowered to 2: th differs, the acceptor refuses the joiner's signature", async () => {
    const r = run({}, {}, edit("acceptor", "challenge", (m) => ({ ...m, version: 2 })));
    expect(failed(await r.acceptorResult).code).toBe(HsCode.Signature);
    expect(failed(await r.joinerResult).code).toBe(HsCode.Refused);
  });
});
