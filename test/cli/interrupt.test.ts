// SIGINT/SIGTERM stop the slow subcommands that are not run/notify/send at the first signal,
// with exit 130 and no file of theirs left: in-process (an aborted signal) and through the
// real binary's signal handlers.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGossip } from "../helpers/cli.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gossip-cli-interrupt-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("in-process: an aborted signal", () => {
  test("config keygen exits 130 and writes no key", async () => {
    const out = join(dir, "k.pem");
    const r = await runGossip(["config", "keygen", "--out", out, "--bits", "1024"], AbortSignal.abort());
    expect([r.code, r.out, r.err]).toEqual([130, [], [`gossip: interrupted: ${out} not written`]]);
    expect(existsSync(out)).toBe(false);
  });

  test("config network exits 130 and removes the directory it made", async () => {
    const net = join(dir, "net", "sub");
    const r = await runGossip(["config", "network", "--nodes", "2", "--dir", net, "--bits", "1024"], AbortSignal.abort());
    expect([r.code, r.out, r.err]).toEqual([130, [], [`gossip: interrupted while generating keys: nothing written into ${net}`]]);
    expect(existsSync(join(dir, "net"))).toBe(false);
  });

  test("status exits 130 instead of waiting for a node that does not answer", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); // accepts, never answers
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 100);
      const t0 = performance.now();
      const r = await runGossip(["status", "--admin", `127.0.0.1:${silent.port}`], stop.signal);
      expect([r.code, r.err]).toEqual([130, [`gossip: interrupted while waiting for http://127.0.0.1:${silent.port}/status`]]);
      expect(performance.now() - t0).toBeLessThan(2000); // its own timeout is 5 s
    } finally {
      silent.stop(true);
    }
  });
});

describe("the binary: the first SIGINT or SIGTERM", () => {
  /** Starts `gossip ARGS`, sends `sig` once after startup, and returns its exit code and stderr. */
  async function interrupt(sig: "SIGINT" | "SIGTERM", args: string[]): Promise<{ code: number | null; err: string; ms: number }> {
    const proc = Bun.spawn([process.execPath, MAIN, ...args], { stdout: "pipe", stderr: "pipe" });
    const deadline = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    // A 16384-bit key takes far longer than this; the signal lands while it is generated.
    await Bun.sleep(1000);
    const t0 = performance.now();
    proc.kill(sig);
    const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(deadline);
    return { code, err: err.trimEnd(), ms: performance.now() - t0 };
  }

  test("config keygen --bits 16384: SIGINT exits 130 at once, no key file", async () => {
    const out = join(dir, "big.pem");
    const r = await interrupt("SIGINT", ["config", "keygen", "--out", out, "--bits", "16384"]);
    expect([r.code, r.err]).toEqual([130, `gossip: interrupted: ${out} not written`]);
    expect(r.ms).toBeLessThan(2000);
    expect(existsSync(out)).toBe(false);
  }, 30_000);

  test("config network --bits 16384: SIGTERM exits 130 at once, no directory", async () => {
    const net = join(dir, "bignet");
    const r = await interrupt("SIGTERM", ["config", "network", "--nodes", "2", "--dir", net, "--bits", "16384"]);
    expect([r.code, r.err]).toEqual([130, `gossip: interrupted while generating keys: nothing written into ${net}`]);
    expect(r.ms).toBeLessThan(2000);
    expect(existsSync(net)).toBe(false);
  }, 30_000);
});
