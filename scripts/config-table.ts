// Prints the README's configuration table (header and one row per [gossip] key) from the
// schema, the one place defaults and ranges live; test/config/readme.test.ts checks that the
// README holds exactly these lines.
//   npx bun scripts/config-table.ts

import { GOSSIP_KEYS, type KeySpec } from "../src/config/schema.ts";

const HELP = `usage: npx bun scripts/config-table.ts
  prints the Markdown table of every [gossip] config key (key, default, range, from, meaning)
  from src/config/schema.ts, as README.md shows it under Configuration
  -h, --help   this text`;

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

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
  console.log(HELP);
  process.exit(0);
}
if (args.length > 0) {
  console.error(`config-table: unexpected argument ${JSON.stringify(args[0])}\n${HELP}`);
  process.exit(2);
}

console.log("| key | default | range | from | meaning |");
console.log("|---|---|---|---|---|");
for (const k of GOSSIP_KEYS) {
  console.log(`| \`${k.key}\` | ${k.default ?? "(absent)"} | ${range(k.kind)} | ${k.spec ? "spec" : "ours"} | ${k.doc} |`);
}
