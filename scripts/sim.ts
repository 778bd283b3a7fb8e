// The network simulator (docs/SIMULATION.md): N nodes of the real protocol core on an
// in-memory transport and a virtual clock, one scripted scenario, seeded. Writes
// DIR/results.json and SVG charts; prints a deterministic summary on stdout (the same seed
// prints the same bytes), progress on stderr.
//
//   npm run sim -- --nodes N --seed S --scenario steady|kill|churn|partition|hostile [options]

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GOSSIP_KEYS } from "../src/config/schema.ts";
import { parseLatency } from "../src/sim/network.ts";
import { DEFAULT_PARAMS, SCENARIOS, type ScenarioName, type ScenarioParams, runScenario } from "../src/sim/scenarios.ts";
import { lineChart, percent } from "./bench/svg.ts";

const D = DEFAULT_PARAMS;
const USAGE = `usage: npm run sim -- [options]
  --scenario NAME         ${SCENARIOS.join(" | ")} (default ${D.scenario})
  --nodes N               network size (default ${D.nodes})
  --seed S                seed: the same seed gives the same results, byte for byte (default ${D.seed})
  --mode M                plumtree | flood (default ${D.mode})
  --latency L             one-way link delay: MS, MIN-MAX (WAN-like), wan:MIN-MAX, uniform:MIN-MAX (default ${D.latency})
  --loss P                probability that a message is lost, 0-1 (default 0)
  --bootstrappers K       joins go through K bootstrappers (default ${D.bootstrappers})
  --join-rate R           nodes joining per virtual second (default ${D.joinRate})
  --settle-s S            virtual seconds after the joins before broadcasting (default ${D.settleMs / 1000})
  --broadcasts B          measured broadcasts, from random live origins (default ${D.broadcasts})
  --interval-ms MS        virtual ms between broadcasts (default ${D.intervalMs})
  --warmup W              broadcasts before measuring (default ${D.warmup})
  --kill PCT              kill: percent of nodes killed at once (default ${D.killPct})
  --silent                kill/churn: nodes crash silently (peers notice by keepalive) instead of exiting
  --churn PCT_PER_MIN     churn: percent of nodes leaving (and as many joining) per minute (default ${D.churnPctPerMin})
  --churn-s S             churn: virtual seconds of churn (default ${D.churnS})
  --partition-s S         partition: virtual seconds the two halves are cut apart (default ${D.partitionS})
  --hostile PCT           hostile: percent of nodes that are hostile (default ${D.hostilePct})
  --hostile-flood         hostile nodes also send their neighbours junk items (which modules reject)
  --set key=value         a [gossip] key for every node over the defaults (repeatable), e.g. --set degree=8
  --out DIR               where results.json and the charts go (default sim-out)
  --quiet                 no progress on stderr
  -h, --help              this text`;

function fail(msg: string): never {
  console.error(`sim: ${msg}\n${USAGE}`);
  process.exit(2);
}

function num(text: string | undefined, what: string, min: number, max: number, dflt: number, integer = true): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    fail(`--${what}: expected ${integer ? "an integer" : "a number"} ${min}-${max}, got ${JSON.stringify(text)}`);
  }
  return v;
}

let args;
try {
  args = parseArgs({
    options: {
      scenario: { type: "string" }, nodes: { type: "string" }, seed: { type: "string" }, mode: { type: "string" },
      latency: { type: "string" }, loss: { type: "string" }, bootstrappers: { type: "string" }, "join-rate": { type: "string" },
      "settle-s": { type: "string" }, broadcasts: { type: "string" }, "interval-ms": { type: "string" }, warmup: { type: "string" },
      kill: { type: "string" }, silent: { type: "boolean" }, churn: { type: "string" }, "churn-s": { type: "string" },
      "partition-s": { type: "string" }, hostile: { type: "string" }, "hostile-flood": { type: "boolean" }, set: { type: "string", multiple: true },
      out: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const scenario = (args.scenario ?? D.scenario) as ScenarioName;
if (!SCENARIOS.includes(scenario)) fail(`--scenario: expected one of ${SCENARIOS.join(", ")}, got ${JSON.stringify(args.scenario)}`);
const mode = args.mode ?? D.mode;
if (mode !== "plumtree" && mode !== "flood") fail(`--mode: expected plumtree or flood, got ${JSON.stringify(mode)}`);
let latency;
try {
  latency = parseLatency(args.latency ?? D.latency);
} catch (e) {
  fail(`--${(e as Error).message}`);
}
const settings: Record<string, string> = {};
const known = new Set(GOSSIP_KEYS.map((k) => k.key));
for (const kv of args.set ?? []) {
  const i = kv.indexOf("=");
  const key = kv.slice(0, i).trim();
  if (i <= 0 || !known.has(key)) fail(`--set: expected key=value with a [gossip] key, got ${JSON.stringify(kv)}`);
  if (["p2p_address", "api_address", "bootstrapper", "dissemination"].includes(key)) fail(`--set: ${key} is chosen by the simulator`);
  settings[key] = kv.slice(i + 1).trim();
}
const p: ScenarioParams = {
  scenario,
  nodes: num(args.nodes, "nodes", 2, 1_000_000, D.nodes),
  seed: num(args.seed, "seed", 0, 2 ** 32 - 1, D.seed),
  mode,
  latency,
  loss: num(args.loss, "loss", 0, 1, D.loss, false),
  settings,
  bootstrappers: num(args.bootstrappers, "bootstrappers", 1, 1000, D.bootstrappers),
  joinRate: num(args["join-rate"], "join-rate", 1, 1_000_000, D.joinRate),
  settleMs: num(args["settle-s"], "settle-s", 0, 86_400, D.settleMs / 1000) * 1000,
  broadcasts: num(args.broadcasts, "broadcasts", 0, 1_000_000, D.broadcasts),
  intervalMs: num(args["interval-ms"], "interval-ms", 1, 3_600_000, D.intervalMs),
  warmup: num(args.warmup, "warmup", 0, 1000, D.warmup),
  killPct: num(args.kill, "kill", 0, 99, D.killPct),
  silent: args.silent ?? false,
  churnPctPerMin: num(args.churn, "churn", 0, 100, D.churnPctPerMin, false),
  churnS: num(args["churn-s"], "churn-s", 1, 86_400, D.churnS),
  partitionS: num(args["partition-s"], "partition-s", 1, 86_400, D.partitionS),
  hostilePct: num(args.hostile, "hostile", 0, 90, D.hostilePct),
  hostileFlood: args["hostile-flood"] ?? false,
};
const out = resolve(args.out ?? "sim-out");
const started = performance.now();
const progress = args.quiet ? () => {} : (line: string) => console.error(`sim: ${line} (wall ${((performance.now() - started) / 1000).toFixed(1)} s)`);

// Configs are checked before anything runs: a bad --set fails here, with the config's own message.
const gc = () => (globalThis as { Bun?: { gc(full: boolean): void } }).Bun?.gc(true);
gc();
const heap0 = process.memoryUsage().heapUsed;
const t0 = performance.now();
let run;
try {
  run = runScenario(p, progress);
} catch (e) {
  fail((e as Error).message);
}
const wallMs = Math.round(performance.now() - t0);
gc();
const perNode = Math.round((process.memoryUsage().heapUsed - heap0) / run.world.nodes.length);
const { result } = run;

// stdout: the deterministic part only (no wall time, no memory): the same seed, the same bytes.
console.log(JSON.stringify({ ...result, rounds: undefined }, null, 2));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "results.json"), JSON.stringify({ ...result, wall_ms: wallMs, memory_per_node_bytes: perNode }, null, 2) + "\n");

const x = (r: { at: number }) => Math.round(r.at / 100) / 10;
const rounds = result.rounds;
writeFileSync(
  join(out, "reliability.svg"),
  lineChart({
    title: `${scenario}: reliability per broadcast (N=${p.nodes}, ${mode}, seed ${p.seed})`,
    xLabel: "virtual time (s)", yLabel: "delivered / live subscribers",
    series: [{ name: "reliability", points: rounds.map((r) => [x(r), r.reliability]), markers: true }],
    yMin: 0, yMax: 1, yFormat: percent, legend: "bottom-right",
  }),
);
writeFileSync(
  join(out, "hops.svg"),
  lineChart({
    title: `${scenario}: last delivery hop per broadcast (N=${p.nodes}, ${mode})`,
    xLabel: "virtual time (s)", yLabel: "hops",
    series: [
      { name: "LDH", points: rounds.map((r) => [x(r), r.ldh]), markers: true },
      { name: "BFS optimum", points: rounds.map((r) => [x(r), r.ldh_optimal]), markers: true },
    ],
    yMin: 0,
  }),
);
writeFileSync(
  join(out, "latency.svg"),
  lineChart({
    title: `${scenario}: time to last delivery (N=${p.nodes}, ${mode}, ${latency.name})`,
    xLabel: "virtual time (s)", yLabel: "ms",
    series: [{ name: "last delivery", points: rounds.map((r) => [x(r), r.last_delivery_ms]), markers: true }],
    yMin: 0,
  }),
);
progress(`${result.events} events in ${wallMs} ms wall (${Math.round((result.events / Math.max(1, wallMs)) * 1000)} events/s), ~${Math.round(perNode / 1024)} KiB per node; results in ${out}`);
