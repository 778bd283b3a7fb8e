// The test bed's router: one TUN device per host, every IPv4 packet a host sends is written to
// the destination host's TUN after a delay (a base per host pair plus jitter). It runs as its
// own process in the bed's control namespace; the bed moves each TUN into its host's
// namespace (the fd stays valid) and gives it the host's address and a default route.
//
//   bun scripts/netbed/router.ts '<RouterSpec as JSON>'
//
// Prints one JSON line `{"ready":true}` once every TUN is open. Reads commands on stdin:
// `stats` prints the counters as a JSON line; end of input (the bed went away) exits.
// Loss and partitions are not done here: iptables in the host namespaces drops packets.
//
// The loop is synchronous (poll, read, write through bun:ffi), so the event loop never runs:
// output goes through write(2) and SIGTERM ends the process with its default action (the
// TUNs are not persistent: the kernel removes them with the last fd).

import { EAGAIN, openTun, PollSet, readFd, writeFd } from "./libc.ts";
import { mulberry32 } from "../../src/util/prng.ts";

export interface RouterSpec {
  /** TUN name and IPv4 address per host, in host order. */
  readonly hosts: ReadonlyArray<{ readonly tun: string; readonly addr: string }>;
  /** One-way delay of a host pair drawn once from [minMs, maxMs]; each packet adds 0..jitterMs. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitterMs: number;
  readonly seed: number;
}

export interface RouterStats {
  forwarded: number;
  bytes: number;
  /** Not IPv4, or to an address no host has. */
  unroutable: number;
  /** The destination TUN's queue was full. */
  overflow: number;
  queued: number;
}

interface Packet {
  readonly due: number;
  readonly seq: number;
  readonly dst: number;
  readonly bytes: Uint8Array;
}

/** A binary min-heap of packets by due time (then arrival order). */
class DueHeap {
  private readonly a: Packet[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Packet | undefined {
    return this.a[0];
  }
  push(p: Packet): void {
    const a = this.a;
    a.push(p);
    let i = a.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!before(a[i]!, a[up]!)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }
  pop(): Packet | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Packet, y: Packet): boolean {
  return x.due < y.due || (x.due === y.due && x.seq < y.seq);
}

function ipv4ToInt(addr: string): number {
  const p = addr.split(".").map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${addr}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** Base one-way delay of every ordered pair: symmetric, drawn once from the seed. */
export function pairDelays(spec: RouterSpec): Float64Array {
  const n = spec.hosts.length;
  const rand = mulberry32(spec.seed);
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const ms = spec.minMs + rand() * (spec.maxMs - spec.minMs);
      d[i * n + j] = ms;
      d[j * n + i] = ms;
    }
  }
  return d;
}

function out(line: string): void {
  writeFd(1, Buffer.from(`${line}\n`));
}

function run(spec: RouterSpec): never {
  const n = spec.hosts.length;
  const fds = spec.hosts.map((h) => openTun(h.tun));
  const byAddr = new Map(spec.hosts.map((h, i) => [ipv4ToInt(h.addr), i]));
  const delays = pairDelays(spec);
  // Per ordered pair, the due time of the last packet queued: jitter may delay a packet but
  // never lets it overtake an earlier one of the same pair (TCP copes, but why make it).
  const lastDue = new Float64Array(n * n);
  const jitter = mulberry32(spec.seed ^ 0x5eed);
  const stats: RouterStats = { forwarded: 0, bytes: 0, unroutable: 0, overflow: 0, queued: 0 };
  const heap = new DueHeap();
  const poll = new PollSet([...fds, 0]);
  const buf = new Uint8Array(65536);
  const line = new Uint8Array(256);
  let seq = 0;
  let command = "";
  out(JSON.stringify({ ready: true, tuns: spec.hosts.map((h) => h.tun) }));

  for (;;) {
    let now = performance.now();
    while (heap.size > 0 && heap.peek()!.due <= now) {
      const p = heap.pop()!;
      const w = writeFd(fds[p.dst]!, p.bytes);
      if (w === -EAGAIN) stats.overflow++;
      else if (w > 0) {
        stats.forwarded++;
        stats.bytes += w;
      }
    }
    const next = heap.peek();
    const timeout = next === undefined ? 1000 : Math.max(0, Math.ceil(next.due - now));
    for (const i of poll.wait(timeout)) {
      if (i === n) {
        const got = readFd(0, line);
        if (got === 0) process.exit(0);
        if (got < 0) continue;
        command += Buffer.from(line.subarray(0, got)).toString();
        let nl: number;
        while ((nl = command.indexOf("\n")) >= 0) {
          const cmd = command.slice(0, nl).trim();
          command = command.slice(nl + 1);
          if (cmd === "stats") out(JSON.stringify({ ...stats, queued: heap.size }));
        }
        continue;
      }
      now = performance.now();
      // Drain the device: a burst of packets goes into the queue at once.
      for (;;) {
        const got = readFd(fds[i]!, buf);
        if (got <= 0) break;
        const dst = (buf[0]! >> 4) === 4 && got >= 20 ? byAddr.get(((buf[16]! << 24) | (buf[17]! << 16) | (buf[18]! << 8) | buf[19]!) >>> 0) : undefined;
        if (dst === undefined || dst === i) {
          stats.unroutable++;
          continue;
        }
        const pair = i * n + dst;
        const due = Math.max(now + delays[pair]! + jitter() * spec.jitterMs, lastDue[pair]!);
        lastDue[pair] = due;
        heap.push({ due, seq: seq++, dst, bytes: buf.slice(0, got) });
      }
    }
  }
}

if (import.meta.main) {
  const text = process.argv[2];
  if (text === undefined) {
    console.error("usage: bun scripts/netbed/router.ts '<RouterSpec as JSON>'");
    process.exit(2);
  }
  try {
    run(JSON.parse(text) as RouterSpec);
  } catch (e) {
    console.error(`router: ${(e as Error).message}`);
    process.exit(1);
  }
}
