import { expect, test } from "bun:test";
import { Logger } from "../../src/util/log.ts";

test("log_format json: one JSON object per line, child fields kept, levels filtered", () => {
  const lines: string[] = [];
  const log = new Logger("info", "gossip", (l) => lines.push(l), {}, "json").child("api", { conn: 3 });
  log.debug("hidden");
  log.warn("bad frame", { why: 'size "3" < 4', n: 1n, ok: false, skip: undefined });
  expect(lines).toHaveLength(1);
  const o = JSON.parse(lines[0]!);
  expect(Object.keys(o)).toEqual(["time", "level", "scope", "msg", "conn", "why", "n", "ok"]);
  expect(o).toMatchObject({ level: "warn", scope: "api", msg: "bad frame", conn: 3, why: 'size "3" < 4', n: "1", ok: false });
  expect(Number.isNaN(Date.parse(o.time))).toBe(false);
});

test("log_format text (the default) is unchanged", () => {
  const lines: string[] = [];
  new Logger("info", "gossip", (l) => lines.push(l)).info("node started", { api: "127.0.0.1:7001", mode: "plumtree" });
  expect(lines[0]).toMatch(/^\S+ INFO gossip node started api=127\.0\.0\.1:7001 mode=plumtree$/);
});
