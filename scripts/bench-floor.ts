// The machine's floor for one delivery (issue 13): what a delivery must cost at least on the
// machine at hand, built from measured parts, so the bench can report CPU per delivery as a
// ratio that means the same on a fast or a slow, busy or idle machine.
//
// One delivery is three one-way hops (the item over a peer link, its NOTIFICATION to the
// module, the module's VALIDATION back), each a loopback TCP write and read, plus one seal and
// one open of the peer frame (AES-256-GCM). Each part is measured as CPU time of this process
// (both socket ends live in it), per frame, with one frame per write and with BATCH frames
// sharing a write.
//
//   bun scripts/bench-floor.ts [--ms 500] [--payload 64] [--json]

import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { SecureChannel } from "../src/node/channel.ts";
import { encodeP2p, type P2pMessage } from "../src/wire/p2p.ts";

/** Frames that share one write in the batched measurement. */
export const BATCH = 8;

export interface Floor {
  readonly payload: number;
  /** CPU µs per frame: loopback write + read, one frame per write / BATCH per write. */
  readonly peerFrameUs: { readonly single: number; readonly batched: number };
  readonly notificationUs: { readonly single: number; readonly batched: number };
  readonly validationUs: { readonly single: number; readonly batched: number };
  /** CPU µs to seal and open one peer frame. */
  readonly sealOpenUs: number;
  /** The floor for one delivery: three hops and one seal+open, without and with batching. */
  readonly deliveryUs: { readonly single: number; readonly batched: number };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per frame to write `frame` over loopback and read it back, `perWrite` frames per write. */
async function loopbackUs(frame: Uint8Array, perWrite: number, ms: number): Promise<number> {
  const chunk = new Uint8Array(frame.byteLength * perWrite);
  for (let i = 0; i < perWrite; i++) chunk.set(frame, i * frame.byteLength);
  let received = 0;
  let waiting: { bytes: number; resolve: () => void } | null = null;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, d) {
        received += d.byteLength;
        if (waiting && received >= waiting.bytes) {
          const w = waiting;
          waiting = null;
          w.resolve();
        }
      },
    },
  });
  const client = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
  // Rounds of 64 writes, each round read in full before the next: no unbounded buffering.
  const round = async () => {
    const target = received + chunk.byteLength * 64;
    const done = new Promise<void>((resolve) => (waiting = { bytes: target, resolve }));
    for (let i = 0; i < 64; i++) {
      let off = 0;
      while (off < chunk.byteLength) {
        const n = client.write(off === 0 ? chunk : chunk.subarray(off));
        if (n <= 0) await Bun.sleep(0);
        else off += n;
      }
    }
    await done;
  };
  for (let i = 0; i < 5; i++) await round(); // warm up
  let frames = 0;
  const c0 = cpuUs();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await round();
    frames += 64 * perWrite;
  }
  const us = (cpuUs() - c0) / frames;
  client.end();
  server.stop(true);
  return us;
}

function sealOpenUs(frame: Uint8Array, ms: number): number {
  const key = new Uint8Array(randomBytes(32));
  const a = new SecureChannel(key, true);
  const b = new SecureChannel(key, false);
  for (let i = 0; i < 1000; i++) b.open(a.seal(frame));
  let n = 0;
  const c0 = cpuUs();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) b.open(a.seal(frame));
    n += 100;
  }
  return (cpuUs() - c0) / n;
}

/** Measures the floor (about 7 × ms of wall time). */
export async function measureFloor(ms = 500, payload = 64): Promise<Floor> {
  const item: P2pMessage = { kind: "gossip", id: new Uint8Array(16), ttl: 8, hops: 1, salt: new Uint8Array(16), dataType: 540, data: new Uint8Array(payload) };
  const plain = encodeP2p(item);
  const sealed = new Uint8Array(plain.byteLength + 16);
  // API frames (docs/API.md): NOTIFICATION = header 4 + id 2 + type 2 + data; VALIDATION = 8 bytes.
  const notification = new Uint8Array(8 + payload);
  const validation = new Uint8Array(8);
  const pair = async (f: Uint8Array) => ({ single: await loopbackUs(f, 1, ms), batched: await loopbackUs(f, BATCH, ms) });
  const peerFrameUs = await pair(sealed);
  const notificationUs = await pair(notification);
  const validationUs = await pair(validation);
  const so = sealOpenUs(plain, ms);
  const sum = (k: "single" | "batched") => peerFrameUs[k] + notificationUs[k] + validationUs[k] + so;
  return { payload, peerFrameUs, notificationUs, validationUs, sealOpenUs: so, deliveryUs: { single: sum("single"), batched: sum("batched") } };
}

export function floorTable(f: Floor): string {
  const r = (x: number) => x.toFixed(2);
  return [
    `| part (payload ${f.payload} B) | CPU µs, 1 frame per write | CPU µs, ${BATCH} frames per write |`,
    "|---|---:|---:|",
    `| peer frame, loopback write + read | ${r(f.peerFrameUs.single)} | ${r(f.peerFrameUs.batched)} |`,
    `| NOTIFICATION, loopback write + read | ${r(f.notificationUs.single)} | ${r(f.notificationUs.batched)} |`,
    `| VALIDATION, loopback write + read | ${r(f.validationUs.single)} | ${r(f.validationUs.batched)} |`,
    `| AES-256-GCM seal + open of the peer frame | ${r(f.sealOpenUs)} | ${r(f.sealOpenUs)} |`,
    `| **floor per delivery** | **${r(f.deliveryUs.single)}** | **${r(f.deliveryUs.batched)}** |`,
  ].join("\n");
}

if (import.meta.main) {
  const USAGE = `usage: npx bun scripts/bench-floor.ts [--ms 500] [--payload 64] [--json] [-h, --help]
  measures the CPU floor of one delivery on this machine (see docs/BENCHMARKS.md)`;
  let values;
  try {
    values = parseArgs({ args: process.argv.slice(2), options: { ms: { type: "string" }, payload: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } }).values;
  } catch (e) {
    // an unknown flag, a missing value or a positional: a usage error naming it, not a stack trace
    console.error(`bench-floor: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const ms = Number(values.ms ?? 500);
  const payload = Number(values.payload ?? 64);
  if (!Number.isInteger(ms) || ms < 50 || !Number.isInteger(payload) || payload < 0 || payload > 65_000) {
    console.error("bench-floor: --ms must be an integer >= 50 and --payload 0-65000");
    process.exit(2);
  }
  const f = await measureFloor(ms, payload);
  console.log(values.json ? JSON.stringify(f, null, 2) : floorTable(f));
}
