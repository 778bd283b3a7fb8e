// Every bad config a user can hand to -c ends in one message naming the file and line, and
// exit 2 (never a stack trace); a listener that cannot bind names its config key, address and
// cause (exit 1: the config is fine, something else holds or lacks the address).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateHostkeyPem } from "../../src/config/hostkey.ts";
import { runGossip } from "../helpers/cli.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

// An aborted signal: `run` stops as soon as it has started (or failed to).
const gossip = (...args: string[]) => runGossip(args, AbortSignal.abort());

let dir = "";
let keyPath = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gossip-cli-config-errors-"));
  keyPath = join(dir, "key.pem");
  await writeFile(keyPath, await generateHostkeyPem(1024), { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function file(content: string | Uint8Array): Promise<string> {
  const path = join(dir, `c${++n}.ini`);
  await writeFile(path, content);
  return path;
}

describe("bad config files: one message with file and line, exit 2", () => {
  const cases: [string, string | Uint8Array, string][] = [
    ["mis-cased [Gossip]", "[Gossip]\ndegree = 3\n", "line 1 [Gossip]: section names are case-sensitive and exact: did you mean [gossip]?"],
    ["misspelt [gosip]", "hostkey = k.pem\n\n[gosip]\n", "line 3 [gosip]: unknown section: did you mean [gossip]?"],
    ["header without ]", "[gossip\ndegree = 3\n", `line 1: section header without closing "]", got "[gossip"`],
    ["line without =", "[gossip]\ndegree = 3\ncache_size 9\n", `line 3: expected a [gossip] line "key = value", got "cache_size 9"`],
    ["empty file", "", ": empty config: expected a [gossip] section and/or a global hostkey (see gossip config node)"],
    ["hostkey inside [gossip]", "[gossip]\nhostkey = k.pem\n", "line 2 [gossip] hostkey: must be a global key, before the first [section] (all modules share it), not inside [gossip]"],
    ["a bad value", "[gossip]\n\ndegree = abc\n", `line 3 [gossip] degree: expected an integer 1-1000, got "abc"`],
    ["a binary file", new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe]), "line 1: not a text file (byte 0xff is not UTF-8); expected a UTF-8 INI file"],
    ["NUL bytes in text", "[gossip]\n\0\0\0\n", "line 2: control byte 0x00: not a text file"],
  ];
  for (const [name, content, message] of cases) {
    for (const cmd of [["config", "check"], ["run"], ["notify", "--type", "1"]]) {
      test(`${name}: gossip ${cmd.join(" ")} -c`, async () => {
        const path = await file(content);
        const r = await gossip(...cmd, "-c", path);
        expect([r.code, r.out, r.err]).toEqual([2, [], [`gossip: ${path}${message.startsWith(":") ? "" : " "}${message}`]]);
      });
    }
  }

  test("a global key named like a section (which crashed the old INI reader) is fine", async () => {
    const path = await file("onion = 1\n[onion]\nx = 2\n[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\n");
    const r = await gossip("config", "check", "-c", path);
    expect([r.code, r.out, r.err]).toEqual([0, ["ok id=in-memory p2p=127.0.0.1:0 api=127.0.0.1:0"], []]);
  });
});

describe("hostkey file permissions", () => {
  test("a key others may read loads, with a warning that says how to fix it", async () => {
    const open = join(dir, "open.pem");
    await writeFile(open, await generateHostkeyPem(1024));
    await chmod(open, 0o644);
    const path = await file(`hostkey = ${open}\n[gossip]\n`);
    const r = await gossip("config", "check", "-c", path);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([
      `gossip: warning: ${path} line 1 [global] hostkey: "${open}" is readable or writable by group or others (mode 0644); restrict it: chmod 600 ${open}`,
    ]);
    const tight = await file(`hostkey = ${keyPath}\n[gossip]\n`);
    expect((await gossip("config", "check", "-c", tight)).err).toEqual([]);
  });
});

describe("gossip run: a listener that cannot bind names key, address and cause (exit 1)", () => {
  /** Runs the real binary: a node that fails half-way must not leave a listener in the test process. */
  async function run(ini: string): Promise<{ code: number; last: string; path: string }> {
    const path = await file(`hostkey = ${keyPath}\n[gossip]\n${ini}\n`);
    const proc = Bun.spawn([process.execPath, MAIN, "run", "-c", path, "--log-level", "error"], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(), 10_000);
    const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(timer);
    return { code, last: err.trimEnd().split("\n").at(-1) ?? "", path };
  }

  test("EADDRINUSE on p2p_address, api_address and admin_address", async () => {
    const held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const addr = `127.0.0.1:${held.port}`;
      const p2p = await run(`p2p_address = ${addr}\napi_address = 127.0.0.1:0`);
      expect([p2p.code, p2p.last]).toEqual([
        1,
        `gossip: ${p2p.path} [gossip] p2p_address: cannot listen on ${addr}: address already in use (EADDRINUSE)`,
      ]);
      const api = await run(`p2p_address = 127.0.0.1:0\napi_address = ${addr}`);
      expect([api.code, api.last]).toEqual([
        1,
        `gossip: ${api.path} [gossip] api_address: cannot listen on ${addr}: address already in use (EADDRINUSE)`,
      ]);
      const admin = await run(`p2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nadmin_address = ${addr}`);
      expect([admin.code, admin.last]).toEqual([
        1,
        `gossip: ${admin.path} [gossip] admin_address: cannot listen on ${addr}: address already in use (EADDRINUSE)`,
      ]);
    } finally {
      held.stop(true);
    }
  });

  test("EADDRNOTAVAIL: an address this host does not have", async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a real interface.
    const r = await run("p2p_address = 127.0.0.1:0\napi_address = 192.0.2.1:7001");
    expect([r.code, r.last]).toEqual([
      1,
      `gossip: ${r.path} [gossip] api_address: cannot listen on 192.0.2.1:7001: address not available on this host (EADDRNOTAVAIL)`,
    ]);
  });
});
