// Smoke test of the benchmark (issue 4): a small run of scripts/bench.ts in a subprocess, both
// modes, one failure experiment and a short throughput phase; results.json must carry every
// field with sane values. The numbers themselves are the bench's business, not this test's.

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const out = mkdtempSync(join(tmpdir(), "gossip-bench-smoke-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const ARGS = [
  "--nodes", "6", "--messages", "5", "--procs", "2", "--mode", "both", "--fail", "50",
  "--throughput", "--throughput-seconds", "1", "--rates", "100", "--warmup", "2",
  "--settle-quiet-ms", "300", "--settle-timeout", "10", "--recovery-timeout", "8", "--floor-ms", "60", "--out", out,
];

const RUN_FIELDS = [
  "mode", "nodes", "procs", "fail_pct", "messages", "reliability", "items_full_share", "rmr", "ldh_max", "ldh_mean",
  "ldh_optimal", "delivery_ms", "last_delivery_ms", "throughput_announces_per_s", "cpu_us_per_delivery", "rss_mb_per_node", "recovery_ms",
];

type Json = Record<string, unknown>;
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function spreadOk(s: unknown): void {
  const t = s as Json;
  for (const k of ["p50", "p99", "max"]) {
    expect(finite(t[k])).toBe(true);
    expect(t[k] as number).toBeGreaterThanOrEqual(0);
  }
  expect(t.p50 as number).toBeLessThanOrEqual(t.p99 as number);
  expect(t.p99 as number).toBeLessThanOrEqual(t.max as number);
}

test(
  "bench: 6 nodes, both modes, 50% killed: results.json has every field, sane values",
  async () => {
    const p = Bun.spawn([process.execPath, join(root, "scripts", "bench.ts"), ...ARGS], { cwd: root, stdout: "pipe", stderr: "pipe" });
    // Bounded: the bench stops by itself well before this; if it does not, kill it by its pid.
    const timer = setTimeout(() => p.kill("SIGKILL"), 27_000);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    if (code !== 0) console.error(stderr);
    expect(code).toBe(0);
    expect(stdout).toContain("| mode | N |");
    expect(stdout).toContain("| goal | run | measured | result |");

    const res = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { machine: Json; runs: Json[]; floor: { deliveryUs: { single: number; batched: number } } };
    // The machine's floor, measured in the run, and CPU per delivery reported against it.
    expect(res.floor.deliveryUs.single).toBeGreaterThan(res.floor.deliveryUs.batched);
    expect(res.floor.deliveryUs.batched).toBeGreaterThan(0);
    expect(stdout).toContain("× floor)");
    for (const k of ["cpu", "cores", "memory_gb", "os", "bun", "date"]) expect(res.machine[k]).toBeDefined();
    expect(res.runs.length).toBe(4);
    for (const r of res.runs) {
      for (const k of RUN_FIELDS) expect(r).toHaveProperty(k);
      expect(r.errors).toEqual([]);
      expect(r.nodes).toBe(6);
      expect(r.procs).toBe(2);
      expect(["plumtree", "flood"]).toContain(r.mode as string);
      expect(finite(r.rss_mb_per_node) && (r.rss_mb_per_node as number) > 0).toBe(true);
    }

    const base = res.runs.filter((r) => r.fail_pct === 0);
    expect(base.map((r) => r.mode).sort()).toEqual(["flood", "plumtree"]);
    for (const r of base) {
      expect(r.messages).toBe(5);
      expect(r.reliability).toBe(1);
      expect(r.items_full_share).toBe(1);
      expect(finite(r.rmr) && (r.rmr as number) >= 0).toBe(true);
      expect(r.ldh_max as number).toBeGreaterThanOrEqual(1);
      expect(r.ldh_optimal as number).toBeGreaterThanOrEqual(1);
      expect(r.ldh_mean as number).toBeLessThanOrEqual(r.ldh_max as number);
      spreadOk(r.delivery_ms);
      spreadOk(r.last_delivery_ms);
      expect(finite(r.throughput_announces_per_s) && (r.throughput_announces_per_s as number) >= 0).toBe(true);
      const steps = r.throughput_steps as Json[];
      expect(steps.length).toBe(1);
      expect(finite(steps[0]!.lag_growth_ms)).toBe(true);
      expect(finite(r.cpu_us_per_delivery) && (r.cpu_us_per_delivery as number) > 0).toBe(true);
      expect(r.recovery_ms).toBeNull();
    }

    const failed = res.runs.filter((r) => r.fail_pct === 50);
    expect(failed.map((r) => r.mode).sort()).toEqual(["flood", "plumtree"]);
    for (const r of failed) {
      expect(r.killed).toBe(3);
      expect(r.reliability as number).toBeGreaterThanOrEqual(0);
      expect(r.reliability as number).toBeLessThanOrEqual(1);
      expect(finite(r.recovery_ms) && (r.recovery_ms as number) >= 0).toBe(true);
      expect(typeof r.overlay_connected_after).toBe("boolean");
    }

    for (const f of ["delivery-n6.svg", "failures-n6.svg", "results.md"]) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, "delivery-n6.svg"), "utf8")).toStartWith("<svg");
  },
  30_000,
);

test("a benchmark item's stamp survives encode and decode, whatever array it arrives in", async () => {
  const { decodeItem, encodeItem } = await import("../../scripts/bench/protocol.ts");
  const stamp = { phase: 65001, origin: 4_000_000_001, item: 123_456_789, sentAt: 1_796_128_104_123.25 };
  const bytes = encodeItem(stamp, 64);
  const chunk = Buffer.alloc(100);
  chunk.set(bytes, 9);
  expect(decodeItem(bytes)).toEqual(stamp);
  expect(decodeItem(chunk.subarray(9, 73))).toEqual(stamp);
  expect(decodeItem(bytes.subarray(0, 23))).toBeNull();
  expect(decodeItem(new Uint8Array(64))).toBeNull();
});
