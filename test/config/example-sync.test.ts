// config/example.ini documents every [gossip] key of src/config/schema.ts: each key once, under
// its doc line from the schema, and each commented-out key at the schema's default, so the
// example cannot drift from the code (README: "every key, documented").

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GOSSIP_KEYS } from "../../src/config/schema.ts";

const lines = readFileSync(join(import.meta.dir, "..", "..", "config", "example.ini"), "utf8").split("\n");
const start = lines.indexOf("[gossip]");

describe("config/example.ini follows src/config/schema.ts", () => {
  test("has a [gossip] section", () => {
    expect(start).toBeGreaterThan(-1);
  });

  for (const spec of GOSSIP_KEYS) {
    test(spec.key, () => {
      const at = lines.flatMap((l, i) => (i > start && new RegExp(`^;?${spec.key} = `).test(l) ? [i] : []));
      expect(at.length).toBe(1); // present, once
      const i = at[0]!;
      expect(lines[i - 1]).toBe(`; ${spec.doc}`);
      const line = lines[i]!;
      // Commented out means "at its default": then it must show the real default.
      if (line.startsWith(";") && spec.default !== undefined) expect(line).toBe(`;${spec.key} = ${spec.default}`);
    });
  }

  test("no key the schema does not know", () => {
    const known = new Set(GOSSIP_KEYS.map((s) => s.key));
    const keys = lines.slice(start + 1).flatMap((l) => /^;?([a-z_0-9]+) = /.exec(l)?.[1] ?? []);
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
  });
});
