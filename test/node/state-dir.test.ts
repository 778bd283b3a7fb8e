// state_dir that is not a usable directory: a config error at load when it is a file, created
// when it does not exist, and a state file that cannot be written never takes the node down.

import { expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { readState, StateWriter, statePath } from "../../src/node/state.ts";
import { Logger } from "../../src/util/log.ts";
import { runGossip } from "../helpers/cli.ts";
import { tempDir, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const tmp = () => tempDir("gossip-statedir-");

test("StateWriter.save never throws: a state_dir that is a file, or a snapshot that fails, is one warning until it works again", () => {
  const dir = tmp();
  writeFileSync(join(dir, "notadir"), "");
  const lines: string[] = [];
  const log = new Logger("debug", "test", (l) => lines.push(l));
  // rmSync(tmp, { force: true }) of a path under a regular file throws EFAULT on Bun.
  const w = new StateWriter(join(dir, "notadir", "n.state"), () => ({ peers: ["10.0.0.1:6001"], seen: [] }), log);
  for (let i = 0; i < 3; i++) expect(() => w.save(1000 + i * 1000)).not.toThrow();
  expect(lines.filter((l) => l.includes("cannot write the state file")).length).toBe(1);
  let n = 0;
  const broken = new StateWriter(join(dir, "b.state"), () => {
    throw new Error(`snapshot ${++n}`);
  }, log);
  expect(() => broken.save()).not.toThrow();
  expect(() => broken.stop()).not.toThrow();
  expect(lines.filter((l) => l.includes("cannot write the state file") && l.includes("snapshot")).length).toBe(1);
});

test("state_dir naming a regular file is a config error naming file, line, key and value; gossip run exits 2", async () => {
  const dir = tmp();
  writeFileSync(join(dir, "notadir"), "");
  const ini = join(dir, "n.ini");
  writeFileSync(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nstate_dir = notadir\n");
  const e = await loadConfig(ini).then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(ConfigError);
  expect((e as ConfigError).message).toBe(`${ini} line 4 [gossip] state_dir: expected a directory (it is a file), got "notadir"`);
  const r = await runGossip(["run", "-c", ini]);
  expect([r.code, r.out]).toEqual([2, []]);
  expect(r.err).toEqual([`gossip: ${ini} line 4 [gossip] state_dir: expected a directory (it is a file), got "notadir"`]);
});

test("a state_dir that does not exist is created at start (with its parents), and the state file written there", async () => {
  const dir = tmp();
  const ini = join(dir, "n.ini");
  writeFileSync(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\npow_bits = 4\nstate_dir = var/state\n");
  const stop = new AbortController();
  const run = runGossip(["run", "-c", ini, "--log-level", "silent"], stop.signal);
  try {
    await until(() => existsSync(join(dir, "var", "state")), 10_000, "state_dir is created");
    expect(statSync(join(dir, "var", "state")).isDirectory()).toBe(true);
  } finally {
    stop.abort();
  }
  expect((await run).code).toBe(0);
  expect(existsSync(statePath((await loadConfig(ini)).config)!)).toBe(true);
});

test("saved peers that are not host:port with a port 1-65535 are dropped with one warning naming the file and the count", async () => {
  const dir = tmp();
  const path = join(dir, "n.state");
  const good = ["127.0.0.1:6001", "[::1]:6002", "peer.example:6003"];
  const junk = ["garbage", "127.0.0.1:99999", "127.0.0.1:0", "a:b:c", "[1.2.3.4]:5", " 127.0.0.1:6004"];
  writeFileSync(path, JSON.stringify({ version: 1, peers: [junk[0], good[0], ...junk.slice(1), ...good.slice(1)], seen: [] }));
  const lines: string[] = [];
  const back = await readState(path, new Logger("debug", "test", (l) => lines.push(l)));
  expect(back?.peers).toEqual(good);
  const warns = lines.filter((l) => l.includes("WARN"));
  expect(warns.length).toBe(1);
  expect(warns[0]).toContain("saved peers dropped: not host:port");
  expect(warns[0]).toContain(`file=${path}`);
  expect(warns[0]).toContain(`dropped=${junk.length}`);
});
