// The router's timing, without IO: which host an IPv4 packet goes to, and when. Each host
// pair gets a one-way delay drawn once from [minMs, maxMs] (the same both ways), each packet
// 0..jitterMs more, and a packet is never due before an earlier one of the same pair.

import { mulberry32 } from "../../src/util/prng.ts";

export interface DelaySpec {
  /** IPv4 address per host, in host order. */
  readonly addrs: readonly string[];
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitterMs: number;
  readonly seed: number;
}

export interface Packet {
  readonly due: number;
  readonly seq: number;
  readonly src: number;
  readonly dst: number;
  readonly bytes: Uint8Array;
}

/** A binary min-heap of packets by due time (then arrival order). */
export class DueHeap {
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

export function ipv4ToInt(addr: string): number {
  const p = addr.split(".").map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${addr}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** Base one-way delay of every ordered pair: symmetric, drawn once from the seed. */
export function pairDelays(spec: DelaySpec): Float64Array {
  const n = spec.addrs.length;
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

/** Packets between hosts, each held until its delay is up. */
export class DelayLine {
  private readonly n: number;
  private readonly byAddr: Map<number, number>;
  private readonly delays: Float64Array;
  /** Per ordered pair, the due time of the last packet queued. */
  private readonly lastDue: Float64Array;
  private readonly jitter: () => number;
  private readonly heap = new DueHeap();
  private seq = 0;

  constructor(private readonly spec: DelaySpec) {
    this.n = spec.addrs.length;
    this.byAddr = new Map(spec.addrs.map((a, i) => [ipv4ToInt(a), i]));
    this.delays = pairDelays(spec);
    this.lastDue = new Float64Array(this.n * this.n);
    this.jitter = mulberry32(spec.seed ^ 0x5eed);
  }

  get size(): number {
    return this.heap.size;
  }

  /** When the next packet is due, or undefined when none is queued. */
  get nextDue(): number | undefined {
    return this.heap.peek()?.due;
  }

  /**
   * Queues a packet host `src` sent at `now` (the bytes are copied); false when it is not
   * IPv4 or goes to no other host of the bed (it is dropped).
   */
  push(src: number, packet: Uint8Array, now: number): boolean {
    const b = packet;
    if (b.byteLength < 20 || b[0]! >> 4 !== 4) return false;
    const dst = this.byAddr.get(((b[16]! << 24) | (b[17]! << 16) | (b[18]! << 8) | b[19]!) >>> 0);
    if (dst === undefined || dst === src) return false;
    const pair = src * this.n + dst;
    // Jitter may hold a packet back but never lets it overtake an earlier one of the same
    // pair: TCP copes with reordering, but nothing is gained by making it.
    const due = Math.max(now + this.delays[pair]! + this.jitter() * this.spec.jitterMs, this.lastDue[pair]!);
    this.lastDue[pair] = due;
    this.heap.push({ due, seq: this.seq++, src, dst, bytes: packet.slice() });
    return true;
  }

  /** The next packet due at `now`, if any. */
  popDue(now: number): Packet | undefined {
    const p = this.heap.peek();
    return p !== undefined && p.due <= now ? this.heap.pop() : undefined;
  }
}
