// `log_format = json`: every stderr line of `gossip run` is one JSON object (for log shippers).

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGossip } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "gossip-log-format-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("gossip run with log_format = json logs JSON lines only", async () => {
  const ini = join(dir, "node.ini");
  writeFileSync(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nlog_format = json\n");
  // An aborted signal: the node starts, logs, and stops at once.
  const r = await runGossip(["run", "-c", ini], AbortSignal.abort());
  expect(r.code).toBe(0);
  expect(r.err.length).toBeGreaterThanOrEqual(3);
  const objs = r.err.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(objs.map((o) => o.msg)).toContain("node started");
  for (const o of objs) expect(Object.keys(o).slice(0, 4)).toEqual(["time", "level", "scope", "msg"]);
});
