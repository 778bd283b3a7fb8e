// Several seeds summarised (issue 12): src/sim/summary.ts, and `npm run sim -- --seeds K`.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cell, flatten, median, summarise, table } from "../../src/sim/summary.ts";

const root = join(import.meta.dir, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "gossip-seeds-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("summary of several seeds", () => {
  test("flatten keeps numeric and null leaves by dotted path, and skips series (rounds, messages by kind, histograms, params)", () => {
    const r = { reliability: 1, last_delivery_ms: { p50: 200, p99: 300 }, extra: { recovery_ms: null, killed: 5 }, rounds: [{ at: 1 }], messages_by_kind: { ping: 4 }, views: { active: { min: 2, histogram: { 3: 1 } } }, params: { nodes: 9 }, scenario: "kill" };
    expect(flatten(r)).toEqual({ reliability: 1, "last_delivery_ms.p50": 200, "last_delivery_ms.p99": 300, "extra.recovery_ms": null, "extra.killed": 5, "views.active.min": 2 });
  });

  test("median of odd and even counts; none is null", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  test("summarise gives median, min, max and the per-seed values; a run without a figure counts as null", () => {
    const s = summarise([{ a: 1, b: null }, { a: 3, b: 10 }, { a: 2 }]);
    expect(s.a).toEqual({ median: 2, min: 1, max: 3, values: [1, 3, 2] });
    expect(s.b).toEqual({ median: 10, min: 10, max: 10, values: [null, 10, null] });
  });

  test("a cell says median (min–max), one value when the seeds agree, and how many never had the figure", () => {
    const f = (x: number) => `${x}`;
    expect(cell({ median: 2, min: 1, max: 3, values: [1, 2, 3] }, f)).toBe("2 (1–3)");
    expect(cell({ median: 5, min: 5, max: 5, values: [5, 5] }, f)).toBe("5");
    expect(cell({ median: 7, min: 7, max: 7, values: [7, null] }, f)).toBe("7, never in 1 of 2");
    expect(cell({ median: null, min: null, max: null, values: [null] }, f)).toBe("never");
    const md = table("kill", [{ label: "kill 50%", spread: summarise([{ extra: { first_broadcast_reliability: 1 } }]) }], "run");
    expect(md.split("\n")[2]).toStartWith("| kill 50% | 100.0% |");
  });

  test("npm run sim -- --seeds 2: one directory per seed, summary.json and summary.md; the same seeds print the same bytes", () => {
    const run = (out: string) =>
      Bun.spawnSync(
        [process.execPath, "scripts/sim.ts", "--nodes", "40", "--broadcasts", "2", "--settle-s", "5", "--scenario", "kill", "--silent", "--seeds", "2", "--seed", "5", "--out", out, "--quiet"],
        { cwd: root, stdout: "pipe", stderr: "pipe" },
      );
    const a = run(join(tmp, "a"));
    const b = run(join(tmp, "b"));
    expect([a.exitCode, a.stderr.toString()]).toEqual([0, ""]);
    expect(b.stdout.toString()).toBe(a.stdout.toString());
    for (const d of ["seed-5", "seed-6"]) expect(existsSync(join(tmp, "a", d, "results.json"))).toBe(true);
    const summary = JSON.parse(readFileSync(join(tmp, "a", "summary.json"), "utf8"));
    expect(summary.seeds).toEqual([5, 6]);
    expect(summary.metrics.reliability.values.length).toBe(2);
    expect(summary.metrics.wall_ms.values.length).toBe(2);
    expect(readFileSync(join(tmp, "a", "summary.md"), "utf8")).toContain("| seeds 5-6 |");
    // stdout holds nothing the machine measured.
    expect(a.stdout.toString()).not.toContain("wall_ms");
  }, 60_000);

  test("npm run sim -- --sweep kill=20,60: one row and one directory per value, and a chart of the first broadcast's reach", () => {
    const out = join(tmp, "sweep");
    const r = Bun.spawnSync(
      [process.execPath, "scripts/sim.ts", "--nodes", "40", "--broadcasts", "2", "--settle-s", "5", "--scenario", "kill", "--sweep", "kill=20,60", "--out", out, "--quiet"],
      { cwd: root, stdout: "pipe", stderr: "pipe" },
    );
    expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
    const md = readFileSync(join(out, "summary.md"), "utf8").trim().split("\n");
    expect(md.slice(2).map((l) => l.split(" | ")[0])).toEqual(["| kill=20", "| kill=60"]);
    for (const d of ["kill=20/seed-1/results.json", "kill=60/summary.json"]) expect(existsSync(join(out, d))).toBe(true);
    expect(readFileSync(join(out, "sweep.svg"), "utf8")).toContain("first broadcast (median)");
    expect(JSON.parse(readFileSync(join(out, "kill=60", "summary.json"), "utf8")).params.killPct).toBe(60);
  }, 60_000);
});
