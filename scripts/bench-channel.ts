// The secure channel's cost per frame: seal + open (AES-256-GCM) against plain
// encode + decode, for typical item sizes. Bounded in time; prints a Markdown table.
//
//   bun scripts/bench-channel.ts [--ms 300]

import { randomBytes } from "node:crypto";
import { SecureChannel } from "../src/node/channel.ts";
import { decodeP2p, encodeP2p, type P2pMessage } from "../src/wire/p2p.ts";

const argv = process.argv.slice(2);
const i = argv.indexOf("--ms");
const MS = i >= 0 ? Number(argv[i + 1]) : 300;

function rate(fn: () => void): number {
  for (let k = 0; k < 200; k++) fn(); // warm up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MS) {
    for (let k = 0; k < 50; k++) fn();
    n += 50;
  }
  return n / ((performance.now() - t0) / 1000);
}

const key = new Uint8Array(randomBytes(32));
console.log("| item bytes | plain encode+decode µs | sealed encode+seal+open+decode µs | channel cost µs | channel MB/s |");
console.log("|---:|---:|---:|---:|---:|");
for (const size of [32, 256, 1024, 8192, 65527]) {
  const msg: P2pMessage = { kind: "gossip", id: new Uint8Array(16).fill(1), ttl: 8, hops: 1, salt: new Uint8Array(16).fill(2), dataType: 540, data: new Uint8Array(randomBytes(size)) };
  const plain = rate(() => decodeP2p(encodeP2p(msg)));
  const a = new SecureChannel(key, true);
  const b = new SecureChannel(key, false);
  const sealed = rate(() => decodeP2p(b.open(a.seal(encodeP2p(msg)))));
  const usPlain = 1e6 / plain;
  const usSealed = 1e6 / sealed;
  const cost = usSealed - usPlain;
  const mbps = (size / cost).toFixed(0);
  console.log(`| ${size} | ${usPlain.toFixed(2)} | ${usSealed.toFixed(2)} | ${cost.toFixed(2)} | ${mbps} |`);
}
