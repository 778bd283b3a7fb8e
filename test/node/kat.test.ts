// Known-answer vectors (issue 10): the crypto labels and layouts of the handshake, the
// secure channel and item ids, pinned to the hex in docs/PROTOCOL.md section 9, read from the document
// itself so that the document and the code cannot drift apart. A label, a field order or the
// nonce layout changed consistently on both sides keeps every interop test green; it breaks
// these. The last two tests drive the real Handshake state machine against a scripted peer,
// so the machine is pinned to these derivations too (and to the PSS role labels).

import { beforeAll, describe, expect, test } from "bun:test";
import { constants, createDecipheriv, createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { generateHostkey, type Hostkey } from "../../src/config/hostkey.ts";
import { SecureChannel, channelKeys, channelNonce, sealFrame, sealRecord, splitRecord } from "../../src/node/channel.ts";
import {
  Handshake,
  markDowngrade,
  type HandshakeResult,
  type Transcript,
  deriveSessionKey,
  sharedSecret,
  transcriptHash,
  transcriptInput,
} from "../../src/node/handshake.ts";
import { leadingZeroBits, powDigest, solveWork } from "../../src/node/pow.ts";
import { SimClock } from "../../src/sim/clock.ts";
import { realEnv } from "../../src/util/real-env.ts";
import { sha256 } from "../../src/util/sha256.ts";
import { concat, fromHex, toHex } from "../../src/wire/bytes.ts";
import { idMatches, itemId, itemIdInput } from "../../src/wire/item-id.ts";
import { type Challenge, P2P_VERSION, type P2pMessage, type Proof, type Welcome, decodeP2p } from "../../src/wire/p2p.ts";

// --- section 9 of docs/PROTOCOL.md, parsed

interface SealedVector {
  readonly side: "joiner" | "acceptor";
  readonly counter: bigint;
  readonly name: string;
  readonly plain: string;
  readonly sealed: string;
}

/** A version-3 record: its inner frames and the record. */
interface RecordVector {
  readonly side: "joiner" | "acceptor";
  readonly counter: bigint;
  readonly frames: string[];
  readonly record: string;
}

function parseSection9(doc: string) {
  const start = doc.indexOf("\n## 9. Test vectors");
  if (start < 0) throw new Error("docs/PROTOCOL.md has no section 9");
  const values = new Map<string, string>();
  const frames: SealedVector[] = [];
  const records: RecordVector[] = [];
  const work: { bits: number; work: bigint; digest: string }[] = [];
  // The entry continuation lines belong to: a named value, or a sealed frame's or record's "-> ..." part.
  let open: { kind: "value"; name: string } | { kind: "frame"; at: number } | { kind: "record"; at: number } | null = null;
  const noComment = (s: string) => s.replace(/\([^)]*\)\s*$/, "").trim();
  for (const line of doc.slice(start).split("\n")) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^ {4}record (joiner|acceptor)\s+#(\S+)\s+\(([0-9a-f ]+)\)$/))) {
      records.push({ side: m[1] as "joiner" | "acceptor", counter: BigInt(m[2]!), frames: m[3]!.trim().split(/\s+/), record: "" });
      open = { kind: "record", at: records.length - 1 };
    } else if ((m = line.match(/^ {6,}->\s*([0-9a-f ]+)$/)) && open?.kind === "record") {
      const r = records[open.at]!;
      records[open.at] = { ...r, record: (r.record + m[1]!).replace(/\s+/g, "") };
    } else if ((m = line.match(/^ {4}(joiner|acceptor)\s+#(\S+)\s+(\w+)\s+\(([0-9a-f]+)\)\s*(?:->\s*([0-9a-f ]+))?$/))) {
      frames.push({ side: m[1] as "joiner" | "acceptor", counter: BigInt(m[2]!), name: m[3]!, plain: m[4]!, sealed: m[5] ?? "" });
      open = { kind: "frame", at: frames.length - 1 };
    } else if ((m = line.match(/^ {4}(\S[^=]*?)\s*=\s*(.*)$/))) {
      values.set(m[1]!, noComment(m[2]!));
      open = { kind: "value", name: m[1]! };
    } else if ((m = line.match(/^ {6,}(\S.*)$/)) && open) {
      if (open.kind === "record") throw new Error(`section 9: unexpected continuation of a record: ${line}`);
      if (open.kind === "value") values.set(open.name, `${values.get(open.name)} ${noComment(m[1]!)}`.trim());
      else {
        const f = frames[open.at]!;
        const arrow = m[1]!.match(/^->\s*([0-9a-f ]+)$/);
        if (!arrow) throw new Error(`section 9: unexpected continuation of a sealed frame: ${line}`);
        frames[open.at] = { ...f, sealed: `${f.sealed} ${arrow[1]}` };
      }
    } else if ((m = line.match(/^\| (\d+) \| (\d+)[^|]*\| ([0-9a-f]{64}) \|$/))) {
      work.push({ bits: Number(m[1]), work: BigInt(m[2]!), digest: m[3]! });
      open = null;
    } else open = null;
  }
  const get = (name: string): string => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`docs/PROTOCOL.md section 9 lacks "${name} = ..."`);
    return v;
  };
  const hex = (name: string): Uint8Array => {
    const v = get(name).replace(/\s+/g, "");
    if (!/^([0-9a-f]{2})+$/.test(v)) throw new Error(`section 9 ${name}: not hex: ${get(name)}`);
    return fromHex(v);
  };
  const str = (name: string): string => JSON.parse(get(name)) as string;
  const int = (name: string): bigint => BigInt(get(name));
  return { values, frames: frames.map((f) => ({ ...f, sealed: f.sealed.replace(/\s+/g, "") })), records, work, hex, str, int };
}

const V = parseSection9(readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8"));

/** The version-2 link of the vectors (version 3 differs only in this field). */
const transcript: Transcript = {
  version: 2,
  nonce: V.hex("nonce"),
  joinerId: V.hex("joinerId"),
  acceptorId: V.hex("acceptorId"),
  joinerEphemeral: V.hex("joinerEphemeral"),
  acceptorEphemeral: V.hex("acceptorEphemeral"),
  joinerAddr: V.str("joinerAddr"),
  acceptorAddr: V.str("acceptorAddr"),
  powBits: Number(V.int("powBits")),
  work: V.int("work"),
};

const b64u = (b: Uint8Array): string => Buffer.from(b).toString("base64url");
/** An X25519 private KeyObject from a raw RFC 7748 scalar (and its public value). */
function x25519Private(priv: Uint8Array, pub: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: b64u(priv), x: b64u(pub) }, format: "jwk" });
}
function rawPublic(priv: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(createPublicKey(priv).export({ format: "jwk" }).x!, "base64url"));
}
const joinerEph = x25519Private(V.hex("joinerEphemeralPrivate"), V.hex("joinerEphemeral"));
const acceptorEph = x25519Private(V.hex("acceptorEphemeralPrivate"), V.hex("acceptorEphemeral"));

describe("docs/PROTOCOL.md section 9 as read by this test", () => {
  test("has every vector this file checks", () => {
    expect(V.frames.map((f) => `${f.side}#${f.counter}:${f.name}`)).toEqual([
      "joiner#0:JOIN",
      "joiner#1:PING",
      "acceptor#0:PONG",
      `joiner#${0x0102030405060708n}:GOSSIP`,
      `acceptor#${0x0102030405060708n}:GOSSIP`,
    ]);
    for (const f of V.frames) expect(f.sealed.length).toBe(f.plain.length + 32);
    expect(V.records.map((r) => `${r.side}#${r.counter}:${r.frames.length}`)).toEqual(["joiner#0:2", "joiner#1:1", `acceptor#${0x0102030405060708n}:2`]);
    for (const r of V.records) expect(r.record.length).toBe(r.frames.join("").length + 40);
    expect(V.work.map((w) => w.bits)).toEqual([8, 18]);
  });

  test("the X25519 inputs are RFC 7748 section 6.1's key pairs", () => {
    expect(toHex(rawPublic(joinerEph))).toBe(toHex(V.hex("joinerEphemeral")));
    expect(toHex(rawPublic(acceptorEph))).toBe(toHex(V.hex("acceptorEphemeral")));
  });
});

describe("proof of work (section 4.3)", () => {
  test("rule: the input is label | nonce | joinerId | acceptorId | work u64, and its digest", () => {
    const input = V.hex("powInput");
    expect(input.byteLength).toBe(127);
    expect(toHex(input)).toBe(
      toHex(concat([new TextEncoder().encode("voidphone-gossip-pow-v1"), transcript.nonce, transcript.joinerId, transcript.acceptorId, new Uint8Array(8)])),
    );
    expect(createHash("sha256").update(input).digest("hex")).toBe(toHex(V.hex("powDigest")));
    expect(toHex(powDigest(transcript.nonce, transcript.joinerId, transcript.acceptorId, 0n))).toBe(toHex(V.hex("powDigest")));
  });

  test("the smallest work for 8 and 18 bits, and its digest", async () => {
    for (const w of V.work) {
      expect(toHex(powDigest(transcript.nonce, transcript.joinerId, transcript.acceptorId, w.work))).toBe(w.digest);
      expect(await solveWork(transcript.nonce, transcript.joinerId, transcript.acceptorId, w.bits)).toBe(w.work);
      expect(leadingZeroBits(fromHex(w.digest))).toBeGreaterThanOrEqual(w.bits);
    }
  });
});

describe("handshake (sections 4.4 and 4.6)", () => {
  test("rule: the transcript input is the label and fields in the documented order (228 bytes)", () => {
    const input = transcriptInput(transcript);
    expect(input.byteLength).toBe(228);
    expect(toHex(input)).toBe(toHex(V.hex("transcriptInput")));
  });

  test("rule: th is SHA-256 of that input", () => {
    expect(toHex(transcriptHash(transcript))).toBe(toHex(V.hex("th")));
    expect(createHash("sha256").update(V.hex("transcriptInput")).digest("hex")).toBe(toHex(V.hex("th")));
  });

  test("the X25519 shared secret, from either side", () => {
    expect(toHex(sharedSecret(joinerEph, V.hex("acceptorEphemeral")))).toBe(toHex(V.hex("shared")));
    expect(toHex(sharedSecret(acceptorEph, V.hex("joinerEphemeral")))).toBe(toHex(V.hex("shared")));
  });

  test("rule: the session key is SHA-256(session label | shared | th)", () => {
    expect(toHex(deriveSessionKey(V.hex("shared"), V.hex("th")))).toBe(toHex(V.hex("sessionKey")));
  });
});

describe("secure channel (section 4.7)", () => {
  const sessionKey = V.hex("sessionKey");
  const keyOf = (side: "joiner" | "acceptor"): Uint8Array => {
    const k = channelKeys(sessionKey);
    return side === "joiner" ? k.joinerToAcceptor : k.acceptorToJoiner;
  };

  test("rule: each direction's key is SHA-256(channel label | sessionKey | direction)", () => {
    const k = channelKeys(sessionKey);
    expect(toHex(k.joinerToAcceptor)).toBe(toHex(V.hex("K(joiner->acceptor)")));
    expect(toHex(k.acceptorToJoiner)).toBe(toHex(V.hex("K(acceptor->joiner)")));
  });

  test("rule: the nonce is 4 zero bytes and the frame counter as u64 big-endian", () => {
    expect(toHex(channelNonce(0x0102030405060708n))).toBe(toHex(V.hex("nonce(0x0102030405060708)")));
    expect(toHex(channelNonce(0n))).toBe("00".repeat(12));
  });

  test("rule: the sealed frame for a given key, counter and plain frame", () => {
    for (const f of V.frames) expect(`${f.side}#${f.counter} ${toHex(sealFrame(keyOf(f.side), f.counter, fromHex(f.plain)))}`).toBe(`${f.side}#${f.counter} ${f.sealed}`);
  });

  test("SecureChannel on a version-2 link seals each direction's first frames exactly so, and the other side opens them", () => {
    for (const side of ["joiner", "acceptor"] as const) {
      const first = V.frames.filter((f) => f.side === side && f.counter < 16n).sort((a, b) => Number(a.counter - b.counter));
      expect(first.map((f) => f.counter)).toEqual(first.map((_, i) => BigInt(i)));
      const sender = new SecureChannel(sessionKey, side === "joiner", 2);
      const receiver = new SecureChannel(sessionKey, side !== "joiner", 2);
      for (const f of first) {
        const sealed = sender.seal(fromHex(f.plain));
        expect(toHex(sealed)).toBe(f.sealed);
        expect(toHex(receiver.open(sealed))).toBe(f.plain);
      }
    }
  });
});

describe("version 3: records (sections 2.2, 4.2 and 4.7)", () => {
  const sessionKey = V.hex("sessionKey(v3)");
  const keyOf = (side: "joiner" | "acceptor"): Uint8Array => {
    const k = channelKeys(sessionKey);
    return side === "joiner" ? k.joinerToAcceptor : k.acceptorToJoiner;
  };
  const v3: Transcript = { ...transcript, version: 3 };

  test("rule: th covers the link's version: the version-3 input differs from version 2's in that field only", () => {
    const a = transcriptInput(transcript);
    const b = transcriptInput(v3);
    expect(b.byteLength).toBe(a.byteLength);
    expect([...a.keys()].filter((i) => a[i] !== b[i])).toEqual([30]);
    expect(b.subarray(29, 31)).toEqual(Uint8Array.of(0, 3));
    expect(toHex(transcriptHash(v3))).toBe(toHex(V.hex("th(v3)")));
    expect(toHex(deriveSessionKey(V.hex("shared"), V.hex("th(v3)")))).toBe(toHex(sessionKey));
    const k = channelKeys(sessionKey);
    expect(toHex(k.joinerToAcceptor)).toBe(toHex(V.hex("K3(joiner->acceptor)")));
    expect(toHex(k.acceptorToJoiner)).toBe(toHex(V.hex("K3(acceptor->joiner)")));
  });

  test("rule: the record for a given key, counter and inner frames", () => {
    for (const r of V.records) {
      const got = sealRecord(keyOf(r.side), r.counter, r.frames.map(fromHex), 3);
      expect(`${r.side}#${r.counter} ${toHex(got)}`).toBe(`${r.side}#${r.counter} ${r.record}`);
    }
  });

  test("rule: a record is | size | AES-256-GCM(K, nonce(counter), aad = size, the whole frames back to back) | tag |", () => {
    for (const r of V.records) {
      const rec = fromHex(r.record);
      expect(new DataView(rec.buffer, rec.byteOffset).getUint32(0)).toBe(rec.byteLength);
      const d = createDecipheriv("aes-256-gcm", keyOf(r.side), channelNonce(r.counter), { authTagLength: 16 });
      d.setAAD(rec.subarray(0, 4));
      d.setAuthTag(rec.subarray(rec.byteLength - 16));
      const plain = Buffer.concat([d.update(rec.subarray(4, rec.byteLength - 16)), d.final()]);
      expect(plain.toString("hex")).toBe(r.frames.join(""));
    }
  });

  test("SecureChannel on a version-3 link seals the joiner's first records exactly so, and the acceptor opens them into those frames", () => {
    const first = V.records.filter((r) => r.side === "joiner").sort((a, b) => Number(a.counter - b.counter));
    expect(first.map((r) => r.counter)).toEqual([0n, 1n]);
    const sender = new SecureChannel(sessionKey, true, 3);
    const receiver = new SecureChannel(sessionKey, false, 3);
    for (const r of first) {
      const rec = sender.seal(r.frames.map(fromHex));
      expect(toHex(rec)).toBe(r.record);
      expect(splitRecord(receiver.open(rec)).map(toHex)).toEqual(r.frames);
    }
  });

  test("rule: the downgrade mark is the nonce's last 8 bytes, DOWNGRD and the acceptor's highest version", () => {
    const nonce = V.hex("nonce");
    markDowngrade(nonce, P2P_VERSION);
    expect(toHex(nonce)).toBe(`${"22".repeat(24)}444f574e47524403`);
  });
});

describe("item ids (section 6.1)", () => {
  const salt = V.hex("itemSalt");
  const type = Number(V.int("itemType"));
  const data = V.hex("itemData");

  test("rule: the id input is label | salt | dataType u16 big-endian | data (46 bytes)", () => {
    const input = itemIdInput(salt, type, data);
    expect(input.byteLength).toBe(46);
    expect(toHex(input)).toBe(toHex(V.hex("itemIdInput")));
    expect(toHex(input)).toBe(toHex(concat([new TextEncoder().encode("voidphone-gossip-item-v1"), salt, Uint8Array.of(type >> 8, type & 0xff), data])));
  });

  test("rule: the id is the first 16 bytes of SHA-256 of that input, in the binary and in the simulator", () => {
    expect(createHash("sha256").update(V.hex("itemIdInput")).digest("hex")).toBe(toHex(V.hex("itemDigest")));
    expect(toHex(V.hex("itemDigest").subarray(0, 16))).toBe(toHex(V.hex("itemId")));
    expect(toHex(itemId(sha256, salt, type, data))).toBe(toHex(V.hex("itemId")));
    expect(toHex(itemId(realEnv.sha256, salt, type, data))).toBe(toHex(V.hex("itemId")));
    expect(toHex(itemId(new SimClock().env(1).sha256, salt, type, data))).toBe(toHex(V.hex("itemId")));
  });

  test("rule: the same data under another salt is another item", () => {
    expect(toHex(itemId(sha256, V.hex("itemSalt2"), type, data))).toBe(toHex(V.hex("itemId2")));
    expect(toHex(V.hex("itemId2"))).not.toBe(toHex(V.hex("itemId")));
  });

  test("the GOSSIP vector carries that id and salt; changing any hashed byte breaks the match", () => {
    const m = decodeP2p(fromHex(V.frames.find((f) => f.name === "GOSSIP")!.plain));
    if (m.kind !== "gossip") throw new Error(`expected GOSSIP, got ${m.kind}`);
    expect([toHex(m.id), toHex(m.salt), m.dataType, toHex(m.data)]).toEqual([toHex(V.hex("itemId")), toHex(salt), type, toHex(data)]);
    expect(idMatches(sha256, m.id, m.salt, m.dataType, m.data)).toBe(true);
    const flip = (b: Uint8Array, i: number) => Uint8Array.from(b, (x, j) => (j === i ? x ^ 1 : x));
    expect(idMatches(sha256, m.id, flip(m.salt, 15), m.dataType, m.data)).toBe(false);
    expect(idMatches(sha256, m.id, m.salt, m.dataType ^ 1, m.data)).toBe(false);
    expect(idMatches(sha256, m.id, m.salt, m.dataType, flip(m.data, 0))).toBe(false);
    expect(idMatches(sha256, flip(m.id, 0), m.salt, m.dataType, m.data)).toBe(false);
  });
});

// --- the state machine uses these derivations (a scripted peer with the RFC 7748 ephemerals)

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const pssSign = (label: string, th: Uint8Array, key: KeyObject): Uint8Array =>
  new Uint8Array(sign("sha256", concat([ascii(label), th]), { key, ...PSS }));
const pssVerify = (label: string, th: Uint8Array, key: KeyObject, sig: Uint8Array): boolean =>
  verify("sha256", concat([ascii(label), th]), { key: createPublicKey(key), ...PSS }, sig);

let joinerKey: Hostkey;
let acceptorKey: Hostkey;
beforeAll(async () => {
  [joinerKey, acceptorKey] = await Promise.all([generateHostkey(1024), generateHostkey(1024)]);
});

function machine(role: "initiator" | "acceptor", key: Hostkey, addr: string): { hs: Handshake; out: P2pMessage[] } {
  const out: P2pMessage[] = [];
  const hs = new Handshake(role, { hostkey: key, advertisedAddr: addr, powBits: 8, timeoutMs: 5000 }, (m) => out.push(m));
  hs.start();
  return { hs, out };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await Bun.sleep(5);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe("the Handshake state machine derives th and the session key as pinned above", () => {
  test("acceptor: signs \"acceptor\" | th and keys the session with SHA-256(label | X25519 | th)", async () => {
    const { hs, out } = machine("acceptor", acceptorKey, transcript.acceptorAddr);
    hs.receive({ kind: "hello", version: P2P_VERSION, ephemeral: transcript.joinerEphemeral, addr: transcript.joinerAddr, publicKey: joinerKey.publicKeyDer });
    const c = out[0] as Challenge;
    expect(c.kind).toBe("challenge");
    const work = await solveWork(c.nonce, joinerKey.id, acceptorKey.id, c.powBits);
    const th = transcriptHash({
      ...transcript,
      version: P2P_VERSION,
      nonce: c.nonce,
      joinerId: joinerKey.id,
      acceptorId: acceptorKey.id,
      acceptorEphemeral: c.ephemeral,
      powBits: c.powBits,
      work,
    });
    hs.receive({ kind: "proof", work, signature: pssSign("joiner", th, joinerKey.privateKey) });
    const w = out[1] as Welcome;
    expect(w?.kind).toBe("welcome");
    expect(pssVerify("acceptor", th, acceptorKey.privateKey, w.signature)).toBe(true);
    const r: HandshakeResult = await hs.result;
    expect(toHex(r.sessionKey)).toBe(toHex(deriveSessionKey(sharedSecret(joinerEph, c.ephemeral), th)));
  });

  test("joiner: signs \"joiner\" | th and keys the session with SHA-256(label | X25519 | th)", async () => {
    const { hs, out } = machine("initiator", joinerKey, transcript.joinerAddr);
    const hello = out[0]!;
    if (hello.kind !== "hello") throw new Error(`expected HELLO, got ${hello.kind}`);
    const challenge: Challenge = {
      kind: "challenge",
      version: P2P_VERSION,
      nonce: transcript.nonce,
      powBits: 8,
      ephemeral: transcript.acceptorEphemeral,
      addr: transcript.acceptorAddr,
      publicKey: acceptorKey.publicKeyDer,
    };
    hs.receive(challenge);
    await until(() => out.length > 1, "the PROOF");
    const p = out[1] as Proof;
    expect(p.kind).toBe("proof");
    const th = transcriptHash({
      ...transcript,
      version: P2P_VERSION,
      joinerId: joinerKey.id,
      acceptorId: acceptorKey.id,
      joinerEphemeral: hello.ephemeral,
      powBits: 8,
      work: p.work,
    });
    expect(pssVerify("joiner", th, joinerKey.privateKey, p.signature)).toBe(true);
    hs.receive({ kind: "welcome", signature: pssSign("acceptor", th, acceptorKey.privateKey) });
    const r = await hs.result;
    expect(toHex(r.sessionKey)).toBe(toHex(deriveSessionKey(sharedSecret(acceptorEph, hello.ephemeral), th)));
  });
});
