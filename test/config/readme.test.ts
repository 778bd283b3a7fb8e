// The README's config table is the user's reference: every key, with its real default.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GOSSIP_KEYS } from "../../src/config/schema.ts";

const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");

test("README documents every [gossip] key with its default", () => {
  for (const k of GOSSIP_KEYS) {
    const row = readme.split("\n").find((l) => l.startsWith(`| \`${k.key}\` |`));
    expect(row, `README row for ${k.key}`).toBeDefined();
    expect(row!.split("|")[2]!.trim()).toBe(k.default ?? "(absent)");
  }
});
