// Prints the README's configuration table from the schema (the one place defaults live):
//   bun scripts/config-table.ts
import { GOSSIP_KEYS } from "../src/config/schema.ts";

for (const k of GOSSIP_KEYS) {
  const range =
    k.kind.type === "int" ? `${k.kind.min}-${k.kind.max}` : k.kind.type === "enum" ? k.kind.values.join(" \\| ") : "host:port";
  console.log(`| \`${k.key}\` | ${k.default ?? "(absent)"} | ${range} | ${k.spec ? "spec" : "ours"} | ${k.doc} |`);
}
