// `--seed` makes a simulation exactly reproducible (issue 8): the same seed prints the same
// bytes, and results.json differs only in what the machine measured (wall time, memory).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseLatency } from "../../src/sim/network.ts";
import { DEFAULT_PARAMS, SCENARIOS, runScenario } from "../../src/sim/scenarios.ts";

const root = join(import.meta.dir, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "gossip-sim-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sim(seed: number, out: string): { stdout: string; code: number; results: Record<string, unknown> } {
  const p = Bun.spawnSync(
    [process.execPath, "scripts/sim.ts", "--nodes", "120", "--broadcasts", "4", "--settle-s", "10", "--scenario", "kill", "--seed", String(seed), "--out", out, "--quiet"],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  const results = p.exitCode === 0 ? (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Record<string, unknown>) : {};
  return { stdout: p.stdout.toString(), code: p.exitCode ?? -1, results };
}

describe("the simulator is deterministic", () => {
  test("rule: the same seed prints byte-identical results; results.json differs only in wall_ms and memory_per_node_bytes", () => {
    const a = sim(7, join(tmp, "a"));
    const b = sim(7, join(tmp, "b"));
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(100);
    expect(b.stdout).toBe(a.stdout);
    const strip = (r: Record<string, unknown>) => ({ ...r, wall_ms: 0, memory_per_node_bytes: 0 });
    expect(strip(b.results)).toEqual(strip(a.results));
    for (const k of ["reliability", "rmr", "ldh_max", "ldh_optimal_max", "last_delivery_ms", "events", "wall_ms", "memory_per_node_bytes"]) {
      expect([k, k in a.results]).toEqual([k, true]);
    }
    for (const chart of ["reliability.svg", "hops.svg", "latency.svg"]) expect(readFileSync(join(tmp, "a", chart), "utf8")).toContain("<svg");
    // Another seed, another run.
    expect(sim(8, join(tmp, "c")).stdout).not.toBe(a.stdout);
  }, 60_000);

  for (const scenario of SCENARIOS) {
    test(`rule: scenario ${scenario} replays exactly from its seed`, () => {
      const p = { ...DEFAULT_PARAMS, scenario, nodes: 60, broadcasts: 3, settleMs: 8000, churnS: 5, partitionS: 5, latency: parseLatency("wan:10-150") };
      const first = JSON.stringify(runScenario(p).result);
      expect(JSON.stringify(runScenario(p).result)).toBe(first);
      expect(JSON.stringify(runScenario({ ...p, seed: 2 }).result)).not.toBe(first);
    }, 60_000);
  }

  test("a bad option is a usage error (exit 2) that names it", () => {
    const p = Bun.spawnSync([process.execPath, "scripts/sim.ts", "--scenario", "nope"], { cwd: root, stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(2);
    expect(p.stderr.toString()).toContain('--scenario: expected one of steady, kill, churn, partition, hostile, got "nope"');
  });
});
