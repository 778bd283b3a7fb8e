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

test("a sink that drops lines (stderr backed up): the count is reported in a warning before the next line that gets through", () => {
  const lines: string[] = [];
  let full = true;
  const root = new Logger("info", "gossip", (l) => (full ? false : lines.push(l)));
  const child = root.child("api", { conn: 3 });
  root.info("one");
  child.warn("two");
  root.debug("below the level: neither written nor counted");
  full = false;
  child.info("three");
  root.info("four");
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatch(/^\S+ WARN log log lines dropped: the log output was not being read dropped=2$/);
  expect(lines[1]).toMatch(/ INFO api three conn=3$/);
  expect(lines[2]).toMatch(/ INFO gossip four$/);
});

test("a dropped warning of drops is counted too, and the count goes on", () => {
  const lines: string[] = [];
  let accept = 0;
  const log = new Logger("info", "gossip", (l) => (accept-- > 0 ? lines.push(l) : false), {}, "json");
  log.info("a"); // dropped: 1
  log.info("b"); // the note is dropped: 2, then b is not tried
  accept = 2;
  log.info("c");
  expect(lines.map((l) => JSON.parse(l))).toMatchObject([{ level: "warn", scope: "log", dropped: 2 }, { msg: "c" }]);
});
