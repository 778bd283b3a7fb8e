// `gossip run` with a listener address whose host does not resolve: exit 1 naming the key, the
// address and what happened (it was reported as "address already in use (EADDRINUSE)").

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGossip } from "../helpers/cli.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("an admin_address host that does not resolve is exit 1 naming the key and value, not a port in use", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gossip-listen-"));
  dirs.push(dir);
  const ini = join(dir, "n.ini");
  writeFileSync(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nadmin_address = nosuchhost.invalid:0\npow_bits = 4\nstate_dir = off\n");
  const r = await runGossip(["run", "-c", ini, "--log-level", "silent"]);
  expect(r.code).toBe(1);
  expect(r.out).toEqual([]);
  const err = r.err.join("\n");
  expect(err).toContain(`${ini} [gossip] admin_address: cannot listen on nosuchhost.invalid:0: host "nosuchhost.invalid" does not resolve`);
  expect(err).not.toMatch(/EADDRINUSE|in use/);
});
