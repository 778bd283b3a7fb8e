// The benchmark (issue 4): N real nodes on 127.0.0.1 hosted in K worker processes, one
// subscribing module per node on the real API; reliability, RMR, LDH, latency, throughput,
// memory and recovery after mass failure, for plumtree and flood in the same run.
// Results: DIR/results.json, DIR/results.md, SVG charts in DIR; the Markdown also on stdout,
// progress on stderr. See docs/BENCHMARKS.md.
//
//   bun scripts/bench.ts [--nodes N[,N..]] [--messages M] [--mode plumtree|flood|both] [--procs K]
//                        [--fail PCT[,PCT..]] [--out DIR] [--throughput] [--throughput-seconds S] ...

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig } from "../src/config/load.ts";
import { baseRun } from "./bench/base.ts";
import { killAllWorkers } from "./bench/cluster.ts";
import { measuredRate, nodeSettings, type BenchOptions, type Mode, type Run } from "./bench/common.ts";
import { failureRun } from "./bench/failure.ts";
import { deliveryChart, failureChart, goalsTable, machine, runsTable, throughputTable, type Machine } from "./bench/report.ts";
import { type Floor, floorTable, measureFloor } from "./bench-floor.ts";

const USAGE = `usage: npx bun scripts/bench.ts [options]
  --nodes N[,N..]          network sizes, one network per size and experiment (default 50)
  --messages M             items in the measured window (default 100)
  --mode M                 plumtree | flood | both (default both)
  --procs K                worker processes hosting the nodes (default: one per core)
  --fail PCT[,PCT..]       also kill PCT% of the nodes at once on a fresh network (default: none)
  --fail-repeat R          each failure experiment R times, seeds --seed .. --seed+R-1 (default 1)
  --out DIR                where results.json, results.md and the SVG charts go (default bench-out)
  --throughput             also step the announce rate up to find the sustained maximum
  --throughput-seconds S   length of each throughput step (default 10)
  --rates R[,R..]          throughput steps, announces/s (default 50,100,250,500,1000,1500,2000,4000)
  --rate R|auto            announces/s in the measured window, light load (default auto: 2000 / (N-1),
                           about 2000 deliveries/s on the machine: N=50 41/s, N=100 20/s, N=200 10/s)
  --warmup W               broadcasts before measuring, 1.25 s apart, so plumtree prunes its tree (default 5)
  --set key=value          a [gossip] key for every node, over the bench defaults (repeatable)
  --bits B                 RSA hostkey size (default 1024)
  --payload BYTES          item data size (default 64, at least 24)
  --seed S                 seed for origins and victims (default 1)
  --log-level L            node log level on stderr (default error)
  --settle-timeout S       seconds allowed for the overlay to connect (default 60)
  --settle-quiet-ms MS     after the overlay connects, wait (bounded) until views are unchanged this long (default 1000)
  --recovery-timeout S     seconds allowed for a broadcast to reach everybody after a kill (default 20)
  --lag-bound-ms MS        a throughput step fails if an item's last delivery lags more (default 2000:
                           room for plumtree's GRAFT repair, ~0.5 s a hop, but not for a growing backlog)
  --replot DIR             only redraw the charts and results.md from DIR/results.json
  --cpu-prof DIR           run the workers under bun --cpu-prof, profiles (and .md summaries) into DIR
  --no-floor               skip measuring the machine's floor per delivery (scripts/bench-floor.ts)
  --floor-ms MS            time spent on each of the floor's 7 parts (default 500)
  -h, --help               this text`;

function fail(msg: string): never {
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

function list(text: string, what: string, min: number, max: number): number[] {
  const out = text.split(",").map((s) => Number(s.trim()));
  for (const [i, v] of out.entries()) {
    if (!Number.isInteger(v) || v < min || v > max) fail(`${what}: expected integers ${min}-${max}, got ${JSON.stringify(text.split(",")[i])}`);
  }
  return out;
}

function int(text: string | undefined, def: number, what: string, min: number, max: number): number {
  return text === undefined ? def : list(text, what, min, max).length === 1 ? Number(text) : fail(`${what}: expected one integer, got ${JSON.stringify(text)}`);
}

function options(argv: string[]): { o: BenchOptions; sizes: number[]; modes: Mode[]; fails: number[]; repeat: number; out: string; floorMs: number } {
  let v: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args: argv,
      strict: true,
      options: {
        nodes: { type: "string" }, messages: { type: "string" }, mode: { type: "string" }, procs: { type: "string" },
        fail: { type: "string" }, "fail-repeat": { type: "string" }, out: { type: "string" }, throughput: { type: "boolean" }, "throughput-seconds": { type: "string" },
        rates: { type: "string" }, rate: { type: "string" }, warmup: { type: "string" }, set: { type: "string", multiple: true },
        bits: { type: "string" }, payload: { type: "string" }, seed: { type: "string" }, "log-level": { type: "string" },
        "settle-timeout": { type: "string" }, "settle-quiet-ms": { type: "string" }, "cpu-prof": { type: "string" }, "recovery-timeout": { type: "string" }, "lag-bound-ms": { type: "string" },
        "no-floor": { type: "boolean" }, "floor-ms": { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
  try {
    v = parse();
  } catch (e) {
    fail((e as Error).message);
  }
  const a = v.values;
  if (a.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const mode = a.mode ?? "both";
  if (!["plumtree", "flood", "both"].includes(mode)) fail(`--mode: expected plumtree, flood or both, got ${JSON.stringify(mode)}`);
  const overrides: Record<string, string> = {};
  for (const kv of a.set ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) fail(`--set: expected key=value, got ${JSON.stringify(kv)}`);
    const key = kv.slice(0, i).trim();
    // Every node listens on 127.0.0.1, port 0, and joins through node 0: not for --set to change.
    if (["p2p_address", "api_address", "bootstrapper", "dissemination"].includes(key)) fail(`--set: ${key} is chosen by the bench`);
    overrides[key] = kv.slice(i + 1).trim();
  }
  const sizes = a.nodes ? list(a.nodes, "--nodes", 2, 100_000) : [50];
  // Check the node settings once, up front, with the config parser the nodes use.
  for (const n of sizes) {
    const text = "[gossip]\n" + Object.entries(nodeSettings("plumtree", n, overrides)).map(([k, x]) => `${k} = ${x}`).join("\n") + "\n";
    try {
      const { warnings } = parseConfig(text, "--set");
      if (warnings.length > 0) fail(warnings.join("; "));
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const o: BenchOptions = {
    messages: int(a.messages, 100, "--messages", 1, 1_000_000),
    procs: int(a.procs, cpus().length, "--procs", 1, 256),
    rate: a.rate === undefined || a.rate === "auto" ? null : int(a.rate, 0, "--rate", 1, 1_000_000),
    warmup: int(a.warmup, 5, "--warmup", 0, 10_000),
    throughput: a.throughput === true,
    throughputSeconds: int(a["throughput-seconds"], 10, "--throughput-seconds", 1, 3600),
    rates: a.rates ? list(a.rates, "--rates", 1, 10_000_000) : [50, 100, 250, 500, 1000, 1500, 2000, 4000],
    overrides,
    bits: int(a.bits, 1024, "--bits", 1024, 8192),
    payload: int(a.payload, 64, "--payload", 24, 60_000),
    logLevel: a["log-level"] ?? "error",
    seed: int(a.seed, 1, "--seed", 0, 2 ** 31),
    settleTimeoutMs: int(a["settle-timeout"], 60, "--settle-timeout", 1, 3600) * 1000,
    settleQuietMs: int(a["settle-quiet-ms"], 1000, "--settle-quiet-ms", 0, 600_000),
    recoveryTimeoutMs: int(a["recovery-timeout"], 20, "--recovery-timeout", 1, 3600) * 1000,
    lagBoundMs: int(a["lag-bound-ms"], 2000, "--lag-bound-ms", 1, 600_000),
    staggerMs: 5,
    profileDir: a["cpu-prof"] ? resolve(a["cpu-prof"]) : null,
  };
  if (!["debug", "info", "warn", "error", "silent"].includes(o.logLevel)) fail(`--log-level: expected debug, info, warn, error or silent, got ${JSON.stringify(o.logLevel)}`);
  const modes: Mode[] = mode === "both" ? ["plumtree", "flood"] : [mode as Mode];
  const fails = a.fail ? list(a.fail, "--fail", 1, 99) : [];
  const repeat = int(a["fail-repeat"], 1, "--fail-repeat", 1, 1000);
  return { o, sizes, modes, fails, repeat, out: resolve(a.out ?? "bench-out"), floorMs: a["no-floor"] === true ? 0 : int(a["floor-ms"], 500, "--floor-ms", 50, 60_000) };
}

async function main(): Promise<void> {
  const { o, sizes, modes, fails, repeat, out, floorMs } = options(process.argv.slice(2));
  mkdirSync(out, { recursive: true });
  const m = machine();
  const runs: Run[] = [];
  let floor: Floor | null = null;
  const save = () =>
    writeFileSync(
      join(out, "results.json"),
      JSON.stringify({ machine: m, command: process.argv.slice(2), elapsed_s: Math.round((performance.now() - t0) / 1000), loadavg_1m_end: loadavg()[0], floor, runs }, null, 2) + "\n",
    );
  const t0 = performance.now();
  const say = (s: string) => console.error(`bench: [${((performance.now() - t0) / 1000).toFixed(0)} s] ${s}`);
  say(`${m.cpu}, ${m.cores} cores, bun ${m.bun}; nodes ${sizes.join(",")}, modes ${modes.join(",")}, ${o.procs} procs, fail ${fails.join(",") || "none"}`);
  if (floorMs > 0) {
    // Measured in this run, on this machine as loaded now: CPU per delivery is reported as a ratio to it.
    floor = await measureFloor(floorMs, o.payload);
    say(`floor per delivery: ${floor.deliveryUs.single.toFixed(1)} µs (${floor.deliveryUs.batched.toFixed(1)} µs with 8 frames per write)`);
  }

  for (const n of sizes) {
    for (const mode of modes) {
      say(`${mode} N=${n}: base run (${o.messages} items at ${measuredRate(o, n)}/s${o.throughput ? ", then throughput" : ""})`);
      const r = await baseRun(o, mode, n);
      runs.push(r);
      save();
      say(`${mode} N=${n}: reliability ${r.reliability}, RMR ${r.rmr}, LDH ${r.ldh_max} (opt ${r.ldh_optimal_max}), last p99 ${r.last_delivery_ms.p99} ms${r.errors.length ? `, errors: ${r.errors.join("; ")}` : ""}`);
    }
    for (const pct of fails) {
      for (let rep = 0; rep < repeat; rep++) {
        for (const mode of modes) {
          say(`${mode} N=${n}: killing ${pct}% of the nodes${repeat > 1 ? ` (seed ${o.seed + rep})` : ""}`);
          const r = await failureRun(o, mode, n, pct, o.seed + rep);
          runs.push(r);
          save();
          const ov = r.origin_view;
          say(
            `${mode} N=${n} ${pct}% killed: first broadcast ${r.first_broadcast_reliability} (origin lost ${ov?.neighbours_killed}/${ov?.neighbours} neighbours), ` +
              `recovery ${r.recovery_ms} ms (done ${r.recovery_done_ms} ms), connected ${r.overlay_connected_after}${r.errors.length ? `, errors: ${r.errors.join("; ")}` : ""}`,
          );
        }
      }
    }
  }
  console.log(render(out, m, process.argv.slice(2), runs, o, floor));
  say(`done: ${join(out, "results.json")}`);
}

/** Writes the charts and results.md into `out`; returns the Markdown. */
function render(out: string, m: Machine, command: readonly string[], runs: readonly Run[], o: BenchOptions, floor: Floor | null): string {
  const sizes = [...new Set(runs.map((r) => r.nodes))];
  for (const n of sizes) {
    const a = deliveryChart(runs, n);
    if (a) writeFileSync(join(out, `delivery-n${n}.svg`), a);
    const b = failureChart(runs, [n]);
    if (b) writeFileSync(join(out, `failures-n${n}.svg`), b);
  }
  if (sizes.length > 1) {
    const all = failureChart(runs, sizes);
    if (all) writeFileSync(join(out, "failures.svg"), all);
  }
  const settings = sizes.map((n) => {
    const s = runs.find((r) => r.nodes === n)?.settings ?? {};
    return `N=${n}: ${Object.entries(s).filter(([k]) => k !== "dissemination").map(([k, x]) => `${k}=${x}`).join(" ")}`;
  });
  const floorUs = floor?.deliveryUs.single ?? null;
  const tp = throughputTable(runs, floorUs);
  const md = [
    `## Gossip benchmark: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, ${m.os}, bun ${m.bun}, ${m.date}`,
    "",
    `\`bun scripts/bench.ts ${command.join(" ")}\``,
    "",
    `Node settings: ${settings.join("; ")}; other keys at their defaults; ${o.bits}-bit RSA hostkeys.`,
    "",
    ...(floor ? [`The machine's floor per delivery, measured in this run (scripts/bench-floor.ts; "× floor" below is CPU per delivery over the first figure):`, "", floorTable(floor), ""] : []),
    runsTable(runs, floorUs),
    "",
    ...(tp ? [`Throughput steps (${o.throughputSeconds} s each; sustained = every item reached every subscriber and no item, nor the announcer, lagged more than ${o.lagBoundMs} ms; "lag growth" is how much later the last fifth of a step's items arrived than the first fifth, median against median: a backlog building up):`, "", tp, ""] : []),
    `Goals (after ${o.warmup} warm-up broadcasts; "100% within" is kill to the last delivery of the first broadcast that reached every live subscriber):`,
    "",
    goalsTable(runs),
    "",
  ].join("\n");
  writeFileSync(join(out, "results.md"), md);
  return md;
}

/** --replot DIR: charts and results.md again from DIR/results.json, with the options it was run with. */
function replot(dir: string): void {
  const file = join(dir, "results.json");
  let data: { machine: Machine; command: string[]; runs: Run[]; floor?: Floor | null };
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    console.error(`bench: --replot: cannot read ${file}: ${why}`);
    process.exit(2);
  }
  const { o } = options(data.command);
  console.log(render(dir, data.machine, data.command, data.runs, o, data.floor ?? null));
}

// Workers also exit on their own when the IPC channel closes; this is the belt to that brace.
process.on("exit", killAllWorkers);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAllWorkers();
    process.exit(130);
  });
}
const at = process.argv.indexOf("--replot");
// --replot takes its options from the recorded command; anything else beside it would be ignored.
const extra = process.argv.slice(2).filter((_, i) => i !== at - 2 && i !== at - 1);
if (at >= 0 && extra.length > 0) fail(`--replot DIR takes no other option, got ${JSON.stringify(extra[0])}`);
await (at >= 0 ? Promise.resolve(replot(resolve(process.argv[at + 1] ?? "bench-out"))) : main()).catch((e) => {
  console.error(`bench: ${(e as Error)?.stack ?? e}`);
  killAllWorkers();
  process.exit(1);
});
