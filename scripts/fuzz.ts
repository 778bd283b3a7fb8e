// Whole-network fuzzing (src/sim/fuzz.ts): random networks and faults from seeds, invariants
// checked after every quiet period. Exits 0 when every seed holds, 1 with the failing seeds
// and the command that replays each.
//
//   npm run fuzz -- --seeds K [--start S] [--max-nodes N] [--verbose]

import { parseArgs } from "node:util";
import { drawCase, runCase } from "../src/sim/fuzz.ts";

const USAGE = `usage: npm run fuzz -- [options]
  --seeds K        how many seeds to run (default 20)
  --start S        first seed (default 1)
  --max-nodes N    largest network drawn (default 48)
  --verbose        print each case and its phases
  -h, --help       this text`;

function fail(msg: string): never {
  console.error(`fuzz: ${msg}\n${USAGE}`);
  process.exit(2);
}
let a;
try {
  a = parseArgs({
    options: { seeds: { type: "string" }, start: { type: "string" }, "max-nodes": { type: "string" }, verbose: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (a.help) {
  console.log(USAGE);
  process.exit(0);
}
const int = (s: string | undefined, what: string, dflt: number, min: number, max: number) => {
  if (s === undefined) return dflt;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min || v > max) fail(`--${what}: expected an integer ${min}-${max}, got ${JSON.stringify(s)}`);
  return v;
};
const seeds = int(a.seeds, "seeds", 20, 1, 1_000_000);
const start = int(a.start, "start", 1, 0, 2 ** 32 - 1);
const maxNodes = int(a["max-nodes"], "max-nodes", 48, 4, 100_000);

const failed: number[] = [];
const t0 = performance.now();
for (let s = start; s < start + seeds; s++) {
  const c = drawCase(s, maxNodes);
  const res = runCase(c, a.verbose ? (l) => console.log(`  ${l}`) : undefined);
  if (a.verbose || !res.ok) console.log(`${res.ok ? "ok  " : "FAIL"} ${res.description} (${res.events} events)`);
  if (!res.ok) {
    failed.push(s);
    for (const f of res.failures) console.log(`     ${f}`);
    console.log(`     replay: npm run fuzz -- --seeds 1 --start ${s}${maxNodes !== 48 ? ` --max-nodes ${maxNodes}` : ""} --verbose`);
  }
}
const secs = ((performance.now() - t0) / 1000).toFixed(1);
console.log(`${seeds - failed.length} of ${seeds} seeds held (${start}..${start + seeds - 1}) in ${secs} s${failed.length ? `; failing seeds: ${failed.join(" ")}` : ""}`);
process.exit(failed.length === 0 ? 0 : 1);
