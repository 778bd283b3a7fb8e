// The network simulator (docs/SIMULATION.md): N nodes of the real protocol core on an
// in-memory transport and a virtual clock, one scripted scenario, seeded. Writes
// DIR/results.json and SVG charts; prints a deterministic summary on stdout (the same seed
// prints the same bytes), progress on stderr.
//
//   npm run sim -- --nodes N --seed S --scenario steady|kill|churn|partition|hostile [options]
//   npm run sim -- ... --seeds K [--sweep key=v1,v2,...]   several seeds (and values): median, min, max

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GOSSIP_KEYS } from "../src/config/schema.ts";
import { parseLatency } from "../src/sim/network.ts";
import { DEFAULT_PARAMS, SCENARIOS, type ScenarioName, type ScenarioParams, type ScenarioResult, runScenario } from "../src/sim/scenarios.ts";
import { type Spread, summarise, table } from "../src/sim/summary.ts";
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
  --hostile-ihave         hostile nodes also announce (IHAVE) every item they receive, and deliver none
  --set key=value         a [gossip] key for every node over the defaults (repeatable), e.g. --set degree=8
  --seeds K               run seeds S, S+1, ... S+K-1 (S: --seed): DIR/seed-S/ per run, DIR/summary.json with the
                          median, min and max of every figure, DIR/summary.md a table (default 1: one run in DIR)
  --sweep key=v1,v2,...   one [gossip] key (or nodes, kill, hostile, churn, partition-s, loss) over several
                          values, each for --seeds seeds: DIR/key=v/seed-S/, DIR/key=v/summary.json,
                          DIR/summary.md one row per value
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
      "partition-s": { type: "string" }, hostile: { type: "string" }, "hostile-flood": { type: "boolean" }, "hostile-ihave": { type: "boolean" }, set: { type: "string", multiple: true },
      seeds: { type: "string" }, sweep: { type: "string" }, out: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
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
const CHOSEN_BY_SIM = ["p2p_address", "api_address", "bootstrapper", "dissemination"];
for (const kv of args.set ?? []) {
  const i = kv.indexOf("=");
  const key = kv.slice(0, i).trim();
  if (i <= 0 || !known.has(key)) fail(`--set: expected key=value with a [gossip] key, got ${JSON.stringify(kv)}`);
  if (CHOSEN_BY_SIM.includes(key)) fail(`--set: ${key} is chosen by the simulator`);
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
  hostileIhave: args["hostile-ihave"] ?? false,
};
const out = resolve(args.out ?? "sim-out");
const seeds = num(args.seeds, "seeds", 1, 10_000, 1);
/** Scenario options --sweep takes besides [gossip] keys: the field, its bounds, integer or not. */
const SWEEPABLE: Record<string, [keyof ScenarioParams, number, number, boolean]> = {
  nodes: ["nodes", 2, 1_000_000, true], kill: ["killPct", 0, 99, true], hostile: ["hostilePct", 0, 90, true],
  churn: ["churnPctPerMin", 0, 100, false], "partition-s": ["partitionS", 1, 86_400, true], loss: ["loss", 0, 1, false],
};
let sweep: { key: string; values: string[] } | null = null;
if (args.sweep !== undefined) {
  const i = args.sweep.indexOf("=");
  const key = args.sweep.slice(0, i).trim();
  const values = args.sweep.slice(i + 1).split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (i <= 0 || !(known.has(key) || key in SWEEPABLE) || values.length === 0) {
    fail(`--sweep: expected key=v1,v2,... with a [gossip] key or one of ${Object.keys(SWEEPABLE).join(", ")}, got ${JSON.stringify(args.sweep)}`);
  }
  if (CHOSEN_BY_SIM.includes(key)) fail(`--sweep: ${key} is chosen by the simulator`);
  const range = SWEEPABLE[key];
  if (range) for (const v of values) num(v, `sweep ${key}`, range[1], range[2], 0, range[3]);
  sweep = { key, values };
}
/** Runs of the sweep: one per value, with the scenario option or [gossip] key set to it. */
const variant = (value: string): ScenarioParams => {
  if (!sweep) return p;
  const option = SWEEPABLE[sweep.key];
  return option ? { ...p, [option[0]]: Number(value) } : { ...p, settings: { ...settings, [sweep.key]: value } };
};
const started = performance.now();
const progress = args.quiet ? () => {} : (line: string) => console.error(`sim: ${line} (wall ${((performance.now() - started) / 1000).toFixed(1)} s)`);
const gc = () => (globalThis as { Bun?: { gc(full: boolean): void } }).Bun?.gc(true);

/** One run: writes DIR/results.json and the charts; returns the results with what the machine measured. */
function runOne(p: ScenarioParams, dir: string, onPhase: (line: string) => void) {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  let run;
  try {
    // Configs are checked before anything runs: a bad --set fails here, with the config's own message.
    run = runScenario(p, onPhase);
  } catch (e) {
    fail((e as Error).message);
  }
  const wallMs = Math.round(performance.now() - t0);
  gc();
  const perNode = Math.round((process.memoryUsage().heapUsed - heap0) / run.world.nodes.length);
  const { result } = run;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), JSON.stringify({ ...result, wall_ms: wallMs, memory_per_node_bytes: perNode }, null, 2) + "\n");
  charts(p, result, dir);
  onPhase(`${result.events} events in ${wallMs} ms wall (${Math.round((result.events / Math.max(1, wallMs)) * 1000)} events/s), ~${Math.round(perNode / 1024)} KiB per node; results in ${dir}`);
  return { result, wallMs, perNode };
}

function charts(p: ScenarioParams, result: ScenarioResult, dir: string): void {
  const x = (r: { at: number }) => Math.round(r.at / 100) / 10;
  const rounds = result.rounds;
  writeFileSync(
    join(dir, "reliability.svg"),
    lineChart({
      title: `${p.scenario}: reliability per broadcast (N=${p.nodes}, ${p.mode}, seed ${p.seed})`,
      xLabel: "virtual time (s)", yLabel: "delivered / live subscribers",
      series: [{ name: "reliability", points: rounds.map((r) => [x(r), r.reliability]), markers: true }],
      yMin: 0, yMax: 1, yFormat: percent, legend: "bottom-right",
    }),
  );
  writeFileSync(
    join(dir, "hops.svg"),
    lineChart({
      title: `${p.scenario}: last delivery hop per broadcast (N=${p.nodes}, ${p.mode})`,
      xLabel: "virtual time (s)", yLabel: "hops",
      series: [
        { name: "LDH", points: rounds.map((r) => [x(r), r.ldh]), markers: true },
        { name: "BFS optimum", points: rounds.map((r) => [x(r), r.ldh_optimal]), markers: true },
      ],
      yMin: 0,
    }),
  );
  writeFileSync(
    join(dir, "latency.svg"),
    lineChart({
      title: `${p.scenario}: time to last delivery (N=${p.nodes}, ${p.mode}, ${p.latency.name})`,
      xLabel: "virtual time (s)", yLabel: "ms",
      series: [{ name: "last delivery", points: rounds.map((r) => [x(r), r.last_delivery_ms]), markers: true }],
      yMin: 0,
    }),
  );
}

/** DIR/sweep.svg: the scenario's headline reliability against the swept value (median, and min/max over the seeds). */
function sweepChart(sw: { key: string; values: string[] }, rows: ReadonlyArray<{ spread: Record<string, Spread> }>): void {
  const figures: Array<[string, string]> =
    p.scenario === "kill" ? [["extra.first_broadcast_reliability", "first broadcast"], ["extra.first_broadcast_reliability_5s", "first broadcast within 5 s"]]
    : p.scenario === "hostile" ? [["extra.honest_reliability", "honest reliability"]]
    : [["reliability", "reliability"]];
  const series = figures.flatMap(([key, name]) => {
    const at = (pick: (s: Spread) => number | null) =>
      rows.flatMap((r, k) => {
        const v = r.spread[key] ? pick(r.spread[key]) : null;
        return v === null ? [] : [[Number(sw.values[k]), v] as const];
      });
    return [
      { name: `${name} (median)`, points: at((s) => s.median), markers: true },
      ...(seeds > 1 ? [{ name: `${name} (min over seeds)`, points: at((s) => s.min), markers: false }] : []),
    ];
  });
  writeFileSync(
    join(out, "sweep.svg"),
    lineChart({
      title: `${p.scenario}: ${figures.map((f) => f[1]).join(", ")} by ${sw.key} (N=${p.nodes}, ${seeds} seed${seeds > 1 ? "s" : ""})`,
      xLabel: sw.key, yLabel: "delivered / live subscribers", series, yMin: 0, yMax: 1, yFormat: percent, legend: "bottom-left",
    }),
  );
}

if (seeds === 1 && sweep === null) {
  const { result } = runOne(p, out, progress);
  // stdout: the deterministic part only (no wall time, no memory): the same seed, the same bytes.
  console.log(JSON.stringify({ ...result, rounds: undefined }, null, 2));
} else {
  // Several seeds (and with --sweep, several values of one key): DIR[/KEY=V]/seed-S/ per run,
  // DIR[/KEY=V]/summary.json with the median, min and max of every figure, DIR/summary.md a table.
  const machine = new Set(["wall_ms", "memory_per_node_bytes"]);
  const rows: Array<{ label: string; spread: Record<string, Spread> }> = [];
  for (const value of sweep ? sweep.values : [null]) {
    const pv = value === null ? p : variant(value);
    const dir = sweep ? join(out, `${sweep.key}=${value}`) : out;
    const runs: unknown[] = [];
    for (let s = p.seed; s < p.seed + seeds; s++) {
      const label = `${sweep ? `${sweep.key}=${value} ` : ""}seed ${s}`;
      const { result, wallMs, perNode } = runOne({ ...pv, seed: s }, join(dir, `seed-${s}`), (l) => progress(`${label}: ${l}`));
      runs.push({ ...result, rounds: undefined, wall_ms: wallMs, memory_per_node_bytes: perNode });
    }
    const spread = summarise(runs);
    const seedList = Array.from({ length: seeds }, (_, k) => p.seed + k);
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ scenario: p.scenario, params: { ...pv, seed: undefined, latency: p.latency.name }, seeds: seedList, metrics: spread }, null, 2) + "\n");
    rows.push({ label: sweep ? `${sweep.key}=${value}` : `seeds ${p.seed}-${p.seed + seeds - 1}`, spread });
  }
  writeFileSync(join(out, "summary.md"), table(p.scenario, rows, sweep ? sweep.key : "seeds"));
  if (sweep && sweep.values.every((v) => Number.isFinite(Number(v)))) sweepChart(sweep, rows);
  // stdout: the deterministic part (no wall time, no memory).
  const pure = rows.map((r) => ({ run: r.label, metrics: Object.fromEntries(Object.entries(r.spread).filter(([k]) => !machine.has(k))) }));
  console.log(JSON.stringify({ scenario: p.scenario, seeds: Array.from({ length: seeds }, (_, k) => p.seed + k), runs: pure }, null, 2));
  progress(`summary in ${join(out, "summary.md")}`);
}
