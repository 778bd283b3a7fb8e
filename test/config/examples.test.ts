// The example configs in config/ parse cleanly: no error, no warning.

import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";

const dir = join(import.meta.dir, "..", "..", "config");
const files = readdirSync(dir).filter((f) => f.endsWith(".ini"));

test("there are example configs", () => {
  expect(files.length).toBeGreaterThan(0);
});

for (const f of files) {
  test(`config/${f} parses without errors or warnings`, async () => {
    const { config, warnings } = await loadConfig(join(dir, f));
    expect(warnings).toEqual([]);
    expect(config.apiAddress.port).toBeGreaterThan(0);
  });
}
