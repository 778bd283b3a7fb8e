// Prints the README's configuration table (header and one row per [gossip] key) from the
// schema, the one place defaults and ranges live; test/config/readme.test.ts checks that the
// README holds exactly these lines.
//   npx bun scripts/config-table.ts

import { GOSSIP_KEYS, type KeySpec } from "../src/config/schema.ts";

/** The range column: what values the key takes, from its kind. */
function range(kind: KeySpec["kind"]): string {
  switch (kind.type) {
    case "int":
      return `${kind.min}-${kind.max}`;
    case "enum":
      return kind.values.join(" \\| ");
    case "address":
      return "host:port";
    case "addresses":
      return "host:port[, host:port ...]";
    case "path":
      return "path";
  }
}

console.log("| key | default | range | from | meaning |");
console.log("|---|---|---|---|---|");
for (const k of GOSSIP_KEYS) {
  console.log(`| \`${k.key}\` | ${k.default ?? "(absent)"} | ${range(k.kind)} | ${k.spec ? "spec" : "ours"} | ${k.doc} |`);
}
