// Configs of one file name sharing a state_dir (two networks' gossip.ini): a state file each,
// and a lock so that a second running node never writes the file of the first (the audit: two
// networks merged through one shared gossip.state).

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, parseConfig } from "../../src/config/load.ts";
import { lockState, StateLockError, statePath } from "../../src/node/state.ts";
import { runGossip, type CliRun } from "../helpers/cli.ts";
import { defer, tempDir, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const tmp = () => tempDir("gossip-statelock-");

test("statePath: configs of one name in different directories get different files under a shared state_dir", () => {
  const cfg = (file: string, body: string) => parseConfig(`[gossip]\n${body}\n`, file).config;
  const a = statePath(cfg("/srv/a/gossip.ini", "state_dir = /nonexistent/state"))!;
  const b = statePath(cfg("/srv/b/gossip.ini", "state_dir = /nonexistent/state"))!;
  expect(a).toMatch(/^\/nonexistent\/state\/gossip-[0-9a-f]{8}\.state$/);
  expect(b).toMatch(/^\/nonexistent\/state\/gossip-[0-9a-f]{8}\.state$/);
  expect(a).not.toBe(b);
  // The same config gives the same file at every start.
  expect(statePath(cfg("/srv/a/gossip.ini", "state_dir = /nonexistent/state"))).toBe(a);
  // Next to its config the name is unique already, and unchanged.
  expect(statePath(cfg("/srv/a/gossip.ini", "degree = 4"))).toBe("/srv/a/gossip.state");
});

test("lockState: a second lock on one state file is refused until the first is released; a lock left by a dead process is taken over", async () => {
  const dir = tmp();
  const path = join(dir, "n.state");
  const first = lockState(path);
  expect(readFileSync(`${path}.lock`, "utf8")).toBe(`${process.pid}\n`);
  expect(() => lockState(path)).toThrow(StateLockError);
  expect(() => lockState(path)).toThrow(`pid ${process.pid}`);
  first.release();
  expect(existsSync(`${path}.lock`)).toBe(false);
  lockState(path).release();

  // kill -9 leaves the lock behind: its pid is gone, so the next start takes it.
  const dead = Bun.spawn([process.execPath, "-e", "0"]);
  await dead.exited;
  writeFileSync(`${path}.lock`, `${dead.pid}\n`);
  const again = lockState(path);
  expect(readFileSync(`${path}.lock`, "utf8")).toBe(`${process.pid}\n`);
  again.release();

  // A live node process (another bun) holds it.
  const live = Bun.spawn([process.execPath, "-e", "await Bun.sleep(30000)"]);
  defer(live, (p) => p.kill("SIGKILL"));
  writeFileSync(`${path}.lock`, `${live.pid}\n`);
  expect(() => lockState(path)).toThrow(`pid ${live.pid}`);
});

test("gossip run: two networks' gossip.ini sharing a state_dir write a file each; the same config started twice is refused (exit 1)", async () => {
  const root = tmp();
  const ini = (sub: string) => {
    mkdirSync(join(root, sub));
    const f = join(root, sub, "gossip.ini");
    writeFileSync(f, `[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\npow_bits = 4\nstate_dir = ${join(root, "state")}\n`);
    return f;
  };
  const [a, b] = [ini("a"), ini("b")];
  const start = (f: string): { stop: () => Promise<CliRun> } => {
    const ctl = new AbortController();
    const run = runGossip(["run", "-c", f, "--log-level", "silent"], ctl.signal);
    defer(ctl, (c) => c.abort());
    return { stop: () => (ctl.abort(), run) };
  };
  const [pa, pb] = [statePath((await loadConfig(a)).config)!, statePath((await loadConfig(b)).config)!];
  expect(pa).not.toBe(pb);
  const na = start(a);
  await until(() => existsSync(pa), 10_000, "a writes its state file");
  const nb = start(b);
  await until(() => existsSync(pb), 10_000, "b writes its own state file");

  const twice = await runGossip(["run", "-c", a, "--log-level", "silent"]);
  expect([twice.code, twice.out]).toEqual([1, []]);
  expect(twice.err.join("\n")).toContain(`${a} [gossip] state_dir: state file ${pa} is in use by another running node`);

  expect((await na.stop()).code).toBe(0);
  expect((await nb.stop()).code).toBe(0);
  // Released at exit.
  expect(existsSync(`${pa}.lock`) || existsSync(`${pb}.lock`)).toBe(false);
});

test("upgrade: a state file under its old name (no hash) is taken over once", async () => {
  const root = tmp();
  const f = join(root, "gossip.ini");
  writeFileSync(f, `[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\npow_bits = 4\nstate_dir = state\n`);
  mkdirSync(join(root, "state"));
  const old = join(root, "state", "gossip.state");
  writeFileSync(old, JSON.stringify({ version: 1, peers: ["127.0.0.1:1"], seen: [] }));
  const ctl = new AbortController();
  const lines: string[] = [];
  const run = runGossip(["run", "-c", f], ctl.signal);
  defer(ctl, (c) => c.abort());
  const path = statePath((await loadConfig(f)).config)!;
  await until(() => existsSync(path), 10_000, "the state file under its new name");
  ctl.abort();
  const r = await run;
  lines.push(...r.err);
  expect(existsSync(old)).toBe(false);
  expect(lines.join("\n")).toContain("state file renamed from its old name");
  expect(lines.join("\n")).toMatch(/state read .*peers=1/);
});
