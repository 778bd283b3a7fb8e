// The secure channel's cost per frame: seal + open (AES-256-GCM) against plain encode +
// decode, in a tight loop on one core. Bounded in time; prints Markdown tables:
//
//  1. by item size, one frame per record;
//  2. per frame when 1, 4 or 16 frames of 64-byte items share a record (protocol version 3;
//     the way a link sends one turn's frames), from encode to decode, the receiver's frame
//     reader included;
//  3. the ways this platform offers to run AES-256-GCM per record (--ciphers).
//
//   npx bun scripts/bench-channel.ts [--ms 300] [--version 2|3] [--ciphers] [--rounds R]
//
// It also runs in a checkout of a commit from before records (it then seals each frame on its
// own and joins them as the Conn's write did): copy it there to measure the old code the same way.

import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import * as channel from "../src/node/channel.ts";
import { concat } from "../src/wire/bytes.ts";
import { FrameDecoder, type FrameSpec } from "../src/wire/frame.ts";
import { decodeP2p, encodeP2p, type P2pMessage } from "../src/wire/p2p.ts";

/** Records (splitRecord) exist from protocol version 3 on; before, one sealed frame per frame. */
const RECORDS = "splitRecord" in channel;

const USAGE = `usage: npx bun scripts/bench-channel.ts [options]
  the secure channel's cost per frame, by item size and by frames per record (Markdown tables)
  --ms MS        time per measured cell (default 300)
  --rounds R     runs per cell, the median is printed (default 3)
  --version V    link version: ${RECORDS ? "2 or 3 (default 3)" : "2 (this code has no records)"}
  --ciphers      also time the ways this platform runs AES-256-GCM per record
  -h, --help     this text`;

function usage(msg: string): never {
  console.error(`bench-channel: ${msg}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  values = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    allowPositionals: false,
    options: { ms: { type: "string" }, rounds: { type: "string" }, version: { type: "string" }, ciphers: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  }).values;
} catch (e) {
  usage((e as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
function int(name: string, text: string | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) usage(`--${name}: expected an integer ${min}-${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}
const MS = int("ms", values.ms, 300, 1, 600_000);
const ROUNDS = int("rounds", values.rounds, 3, 1, 1000);
const VERSION = int("version", values.version, RECORDS ? 3 : 2, 2, RECORDS ? 3 : 2);
const CIPHERS = values.ciphers === true;

/** µs per call of fn over one run of MS. */
function once(fn: () => void): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MS) {
    for (let k = 0; k < 20; k++) fn();
    n += 20;
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** µs per call of fn, median of ROUNDS runs of MS each. */
function usPer(fn: () => void): number {
  for (let k = 0; k < 200; k++) fn(); // warm up
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(once(fn));
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
}

type Chan = { seal(f: Uint8Array | Uint8Array[]): Uint8Array; open(r: Uint8Array): Uint8Array };
const key = new Uint8Array(randomBytes(32));
function pair(): { a: Chan; b: Chan } {
  const C = channel.SecureChannel as unknown as new (k: Uint8Array, i: boolean, v?: number) => Chan;
  return { a: new C(key, true, VERSION), b: new C(key, false, VERSION) };
}
const spec: FrameSpec = RECORDS && VERSION >= 3 ? (channel as { SEALED_RECORD: FrameSpec }).SEALED_RECORD : channel.SEALED_FRAME;
const split = RECORDS ? (channel as unknown as { splitRecord(p: Uint8Array): Uint8Array[] }).splitRecord : (p: Uint8Array) => [p];

const item = (size: number): P2pMessage => ({ kind: "gossip", id: new Uint8Array(16).fill(1), ttl: 8, hops: 1, salt: new Uint8Array(16).fill(2), dataType: 540, data: new Uint8Array(randomBytes(size)) });

/**
 * One turn from encode to decode: k frames sealed as a link sends them (before records: each
 * alone, joined into one write as the Conn did), read and opened as a link receives them.
 */
function turn(msgs: P2pMessage[], a: Chan, b: Chan, rx: FrameDecoder): void {
  const frames = msgs.map(encodeP2p);
  let wire: Uint8Array;
  if (VERSION >= 3 && RECORDS) wire = a.seal(frames);
  else {
    const sealed = frames.map((f) => a.seal(f));
    wire = sealed.length === 1 ? sealed[0]! : concat(sealed);
  }
  rx.feed(wire, (r) => {
    for (const f of split(b.open(r))) decodeP2p(f);
    return true;
  });
}

console.log(`channel: ${RECORDS ? "records (version 3 code)" : "one sealed frame per frame (code before version 3)"}, link version ${VERSION}, ${ROUNDS} x ${MS} ms per cell, median`);
console.log("");
console.log("| item bytes | plain encode+decode µs | sealed encode+seal+open+decode µs | channel cost µs | channel MB/s |");
console.log("|---:|---:|---:|---:|---:|");
for (const size of [32, 256, 1024, 8192, 65527]) {
  const msg = item(size);
  const plain = usPer(() => decodeP2p(encodeP2p(msg)));
  const { a, b } = pair();
  const rx = new FrameDecoder(spec);
  const sealed = usPer(() => turn([msg], a, b, rx));
  const cost = sealed - plain;
  console.log(`| ${size} | ${plain.toFixed(2)} | ${sealed.toFixed(2)} | ${cost.toFixed(2)} | ${(size / cost).toFixed(0)} |`);
}

console.log("");
console.log("| frames per turn (64-byte items) | plain µs per frame | sealed µs per frame | channel cost µs per frame | records per turn |");
console.log("|---:|---:|---:|---:|---:|");
for (const k of [1, 4, 16]) {
  const msgs = Array.from({ length: k }, () => item(64));
  const plain = usPer(() => {
    for (const m of msgs) decodeP2p(encodeP2p(m));
  }) / k;
  const { a, b } = pair();
  const rx = new FrameDecoder(spec);
  const sealed = usPer(() => turn(msgs, a, b, rx)) / k;
  const records = VERSION >= 3 && RECORDS ? 1 : k;
  console.log(`| ${k} | ${plain.toFixed(2)} | ${sealed.toFixed(2)} | ${(sealed - plain).toFixed(2)} | ${records} |`);
}

if (CIPHERS) {
  // node:crypto offers no way to re-key or re-nonce a GCM cipher object (createCipheriv is
  // one message), and WebCrypto's crypto.subtle is asynchronous. What each costs per record:
  const raw = Buffer.from(key);
  const keyObject = createSecretKey(raw);
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(4);
  const gcm = { authTagLength: 16 } as const;
  const subtleKey = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const params = { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 };
  async function asyncOnce(fn: () => Promise<unknown>): Promise<number> {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < MS) {
      for (let k = 0; k < 20; k++) await fn();
      n += 20;
    }
    return ((performance.now() - t0) * 1000) / n;
  }
  console.log("");
  console.log("| AES-256-GCM per record, seal + open | 106 B (one 64-byte item frame) µs | 1696 B (16 of them) µs | synchronous |");
  console.log("|---|---:|---:|---|");
  function nodeRoundTrip(k: Buffer | ReturnType<typeof createSecretKey>, pt: Uint8Array): void {
    const c = createCipheriv("aes-256-gcm", k, nonce, gcm);
    c.setAAD(aad);
    const ct = c.update(pt);
    c.final();
    const d = createDecipheriv("aes-256-gcm", k, nonce, gcm);
    d.setAAD(aad);
    d.setAuthTag(c.getAuthTag());
    d.update(ct);
    d.final();
  }
  const options: [string, (pt: Uint8Array<ArrayBuffer>) => Promise<number>, string][] = [
    ["createCipheriv/createDecipheriv, key as bytes", async (pt) => once(() => nodeRoundTrip(raw, pt)), "yes"],
    ["createCipheriv/createDecipheriv, key as a KeyObject made once", async (pt) => once(() => nodeRoundTrip(keyObject, pt)), "yes"],
    ["crypto.subtle.encrypt/decrypt (awaited)", async (pt) => asyncOnce(async () => crypto.subtle.decrypt(params, subtleKey, await crypto.subtle.encrypt(params, subtleKey, pt))), "no"],
  ];
  // The options take turns within each round (A B C A B C ...), so a busy moment of the
  // machine does not fall on one of them only.
  const sizes = [new Uint8Array(randomBytes(106)), new Uint8Array(randomBytes(1696))];
  const runs = options.map(() => sizes.map((): number[] => []));
  for (const [, run] of options) for (const pt of sizes) await run(pt); // warm up
  for (let r = 0; r < ROUNDS; r++) for (const [o, [, run]] of options.entries()) for (const [i, pt] of sizes.entries()) runs[o]![i]!.push(await run(pt));
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [o, [name, , sync]] of options.entries()) console.log(`| ${name} | ${median(runs[o]![0]!).toFixed(2)} | ${median(runs[o]![1]!).toFixed(2)} | ${sync} |`);
}
