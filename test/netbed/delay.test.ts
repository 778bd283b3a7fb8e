// The test bed router's timing (scripts/netbed/delay.ts), without TUN devices: routing by
// destination address, per-pair delays within bounds and the same both ways, jitter that never
// reorders a pair, and the host plan's addresses.

import { describe, expect, test } from "bun:test";
import { DelayLine, pairDelays, type DelaySpec } from "../../scripts/netbed/delay.ts";
import { planHosts } from "../../scripts/netbed/plan.ts";

const spec: DelaySpec = { addrs: ["10.1.1.1", "10.1.1.2", "10.1.2.1"], minMs: 20, maxMs: 100, jitterMs: 10, seed: 7 };

/** A minimal IPv4 header from `src` to `dst`, with `tag` in the identification field. */
function packet(src: string, dst: string, tag = 0): Uint8Array {
  const b = new Uint8Array(20);
  b[0] = 0x45;
  b[4] = tag >> 8;
  b[5] = tag & 0xff;
  b.set(src.split(".").map(Number), 12);
  b.set(dst.split(".").map(Number), 16);
  return b;
}

describe("netbed delay line", () => {
  test("pair delays: within [min, max], the same both ways, fixed by the seed", () => {
    const d = pairDelays(spec);
    const n = spec.addrs.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        expect(d[i * n + j]).toBeGreaterThanOrEqual(20);
        expect(d[i * n + j]).toBeLessThanOrEqual(100);
        expect(d[i * n + j]).toBe(d[j * n + i]!);
      }
    }
    expect([...pairDelays(spec)]).toEqual([...d]);
    expect([...pairDelays({ ...spec, seed: 8 })]).not.toEqual([...d]);
  });

  test("routes by destination address; anything else is refused", () => {
    const line = new DelayLine(spec);
    expect(line.push(0, packet("10.1.1.1", "10.1.2.1"), 0)).toBe(true);
    expect(line.push(0, packet("10.1.1.1", "10.9.9.9"), 0)).toBe(false); // no such host
    expect(line.push(0, packet("10.1.1.1", "10.1.1.1"), 0)).toBe(false); // to itself
    const v6 = packet("10.1.1.1", "10.1.2.1");
    v6[0] = 0x60;
    expect(line.push(0, v6, 0)).toBe(false);
    expect(line.push(0, new Uint8Array(12), 0)).toBe(false); // too short for a header
    expect(line.size).toBe(1);
    expect(line.popDue(0)).toBeUndefined();
    const p = line.popDue(1000)!;
    expect([p.src, p.dst]).toEqual([0, 2]);
    expect(p.due).toBeGreaterThanOrEqual(20);
    expect(p.due).toBeLessThanOrEqual(110);
  });

  test("jitter never lets a packet overtake an earlier one of the same pair", () => {
    const line = new DelayLine({ ...spec, jitterMs: 50 });
    for (let t = 0; t < 500; t++) line.push(1, packet("10.1.1.2", "10.1.2.1", t), t * 0.1);
    const order: number[] = [];
    let last = -Infinity;
    for (let p = line.popDue(1e9); p !== undefined; p = line.popDue(1e9)) {
      expect(p.due).toBeGreaterThanOrEqual(last);
      last = p.due;
      order.push((p.bytes[4]! << 8) | p.bytes[5]!);
    }
    expect(order).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  test("a packet's bytes are copied when queued (the read buffer is reused)", () => {
    const line = new DelayLine(spec);
    const buf = packet("10.1.1.1", "10.1.1.2", 1);
    line.push(0, buf, 0);
    buf[5] = 99;
    expect(line.popDue(1000)!.bytes[5]).toBe(1);
  });
});

describe("netbed host plan", () => {
  test("hosts fill /24s perSubnet at a time; control links on their own /30s", () => {
    const hosts = planHosts("nb1x1", 6, 4);
    expect(hosts.map((h) => h.addr)).toEqual(["10.1.1.1", "10.1.1.2", "10.1.1.3", "10.1.1.4", "10.1.2.1", "10.1.2.2"]);
    expect(hosts.map((h) => h.ns)).toEqual(["nb1x1-h1", "nb1x1-h2", "nb1x1-h3", "nb1x1-h4", "nb1x1-h5", "nb1x1-h6"]);
    expect(hosts[5]).toMatchObject({ ctlAddr: "10.254.6.2", ctlPeer: "10.254.6.1", tun: "tun6" });
    expect(planHosts("p", 16, 16).every((h) => h.addr.startsWith("10.1.1."))).toBe(true);
    expect(() => planHosts("p", 251, 4)).toThrow(RangeError);
  });
});
