// Every script under scripts/ is a command line: `--help` prints its usage and exits 0 without
// running anything, and a flag it does not know is a usage error (exit 2, naming the flag on
// stderr, nothing on stdout), never a stack trace, a silent run or a flag taken for something else.

import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const SCRIPTS = readdirSync(join(root, "scripts")).filter((f) => f.endsWith(".ts")).sort();

function run(script: string, ...args: string[]): { code: number | null; out: string; err: string } {
  // A short timeout: a script that ignored its arguments would start its real work.
  const p = Bun.spawnSync([process.execPath, join(root, "scripts", script), ...args], { cwd: root, timeout: 15_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("the scripts checked here are every script with a command line", () => {
  expect(SCRIPTS).toEqual(["bench-channel.ts", "bench-floor.ts", "bench.ts", "config-table.ts", "demo.ts", "fuzz.ts", "netbed.ts", "sim.ts", "test.ts"]);
});

for (const script of SCRIPTS) {
  const name = script.replace(/\.ts$/, "");

  test(`${script} --help prints its usage and exits 0`, () => {
    const r = run(script, "--help");
    expect([r.code, r.err]).toEqual([0, ""]);
    expect(r.out).toMatch(/^usage: /i);
    expect(r.out).toContain("--help");
  }, 20_000);

  test(`${script} --bogus is a usage error naming the flag`, () => {
    const r = run(script, "--bogus");
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err).toStartWith(`${name}: `);
    expect(r.err.split("\n")[0]).toContain("--bogus");
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  }, 20_000);
}

test("npm test -- --help lists its flags and says other arguments are test file filters; a mistyped flag skips no tier", () => {
  const help = run("test.ts", "--help");
  expect(help.code).toBe(0);
  for (const flag of ["--skip-e2e", "--skip-netbed"]) expect(help.out).toContain(flag);
  expect(help.out).toMatch(/other arguments are bun test file filters/);
  const typo = run("test.ts", "--skip-e2");
  expect([typo.code, typo.out]).toEqual([2, ""]);
  expect(typo.err).toStartWith(`test: unknown option "--skip-e2"`);
});

test("bench-channel checks the values of its options", () => {
  for (const [flag, value] of [["--version", "abc"], ["--version", "4"], ["--ms", "x"], ["--rounds", "0"]] as const) {
    const r = run("bench-channel.ts", flag, value);
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err.split("\n")[0]).toBe(`bench-channel: ${flag}: expected an integer ${r.err.match(/integer (\d+-\d+)/)?.[1]}, got "${value}"`);
  }
});

test("bench --replot of a directory without results.json names the file, without a stack trace", () => {
  const r = run("bench.ts", "--replot", "/nonexistent-bench-out");
  expect([r.code, r.out]).toEqual([2, ""]);
  expect(r.err.trim()).toBe("bench: --replot: cannot read /nonexistent-bench-out/results.json: ENOENT");
});

test("config-table --help says what it prints; any argument is a usage error", () => {
  expect(run("config-table.ts", "--help").out).toContain("Markdown table of every [gossip] config key");
  const r = run("config-table.ts", "state_dir");
  expect([r.code, r.out]).toEqual([2, ""]);
  expect(r.err).toStartWith(`config-table: unexpected argument "state_dir"`);
});
