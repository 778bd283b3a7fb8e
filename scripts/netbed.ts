// The multi-host test bed (docs/TESTBED.md): compiled `dist/gossip` nodes, one per network
// namespace with its own IPv4 address, on the default security settings; a userspace router
// adds delay, iptables adds loss and partitions; a probe subscribes on every node and checks
// delivery. Needs root (namespaces, TUN devices, iptables).
//
//   bun scripts/netbed.ts <scenario|all|ci|list|clean> [--hosts N] [--keep-logs DIR] [options]
//
// Each scenario runs in two processes: this one (the root namespace) makes the run's control
// namespace and removes everything named after the run when the scenario ends, fails or is
// interrupted; the scenario itself runs in a child inside the control namespace (`--inner`).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { namespacesOf, removeNamespace, type Wan } from "./netbed/bed.ts";
import { Run } from "./netbed/harness.ts";
import { MAX_HOSTS } from "./netbed/plan.ts";
import { have, sh } from "./netbed/proc.ts";
import { CI_SCENARIOS, LONG, SCENARIOS, scenarioNamed, SHORT, type Scenario, type Timing } from "./netbed/scenarios.ts";

const USAGE = `usage: npx bun scripts/netbed.ts <scenario|all|ci|list|clean> [options]      (as root)

  <scenario>           one of: ${SCENARIOS.map((s) => s.name).join(", ")}
  all                  every scenario, one after the other
  ci                   the CI tier's set (${CI_SCENARIOS.join(", ")}) with --ci
  list                 the scenarios, what each asserts, which are in the CI set
  clean                remove namespaces left by netbed runs whose process is gone

options:
  --hosts N            number of hosts (default: the scenario's)
  --ci                 the CI variant: fewer hosts, partition ${SHORT.partitionS} s, freeze ${SHORT.freezeS} s, down ${SHORT.downS} s,
                       ${SHORT.items} items per round
  --keep-logs DIR      keep configs and node logs in DIR/<scenario>/ (failed runs keep theirs in /tmp anyway)
  --seed S             seed for delays, origins and victims (default: random, printed)
  --delay MIN-MAX      one-way delay per host pair in ms (default: the scenario's)
  --jitter MS          extra delay per packet, 0..MS (default: the scenario's)
  --loss PCT           packets dropped on arrival at each host, percent (default: the scenario's)
  --per-subnet N       hosts per /24: 10.1.1.1..N, then 10.1.2.1.. (default: the scenario's; --ci: its CI value)
  --partition-s S      partition length (default ${LONG.partitionS})
  --freeze-s S         freeze length (default ${LONG.freezeS})
  --down-s S           how long restarted nodes stay down in bootstrap-gone (default ${LONG.downS})
  --items N            items per broadcast round (default ${LONG.items})
  --require NAME       assert an optional check (repeatable; none at present: every check is asserted)
  --set key=value      a [gossip] key for every node (repeatable), over the bed's timers
  --log-level L        node log level (default debug)
  --bits B             RSA hostkey size (default 2048)
  --gossip PATH        the binary (default dist/gossip; build: npx bun build --compile src/main.ts --outfile dist/gossip)
  -h, --help           this text`;

const root = resolve(import.meta.dir, "..");

function usage(msg: string): never {
  console.error(`netbed: ${msg}\n${USAGE}`);
  process.exit(2);
}

/** Node's parseArgs throws on an unknown flag or a missing value: a usage error that names it. */
function parseArgv<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    usage((e as Error).message);
  }
}

const { values: v, positionals } = parseArgv(() => parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    hosts: { type: "string" },
    ci: { type: "boolean", default: false },
    "keep-logs": { type: "string" },
    seed: { type: "string" },
    delay: { type: "string" },
    jitter: { type: "string" },
    loss: { type: "string" },
    "per-subnet": { type: "string" },
    "partition-s": { type: "string" },
    "freeze-s": { type: "string" },
    "down-s": { type: "string" },
    items: { type: "string" },
    require: { type: "string", multiple: true, default: [] },
    set: { type: "string", multiple: true, default: [] },
    "log-level": { type: "string", default: "debug" },
    bits: { type: "string", default: "2048" },
    gossip: { type: "string", default: join(root, "dist", "gossip") },
    inner: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
}));

function int(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) usage(`--${name}: expected an integer ${min}-${max}, got ${JSON.stringify(text)}`);
  return n;
}

if (v.help) {
  console.log(USAGE);
  process.exit(0);
}
const command = positionals[0];
if (command === undefined || positionals.length > 1) usage(positionals.length > 1 ? `one command, got ${positionals.join(" ")}` : "a command is needed");

const hostsFlag = int("hosts", v.hosts, 2, MAX_HOSTS);
const seed = int("seed", v.seed, 0, 2 ** 31 - 1) ?? Math.floor(Math.random() * 2 ** 31);
const bits = int("bits", v.bits, 1024, 8192)!;
const timing: Timing = {
  partitionS: int("partition-s", v["partition-s"], 1, 3600) ?? (v.ci ? SHORT : LONG).partitionS,
  freezeS: int("freeze-s", v["freeze-s"], 1, 3600) ?? (v.ci ? SHORT : LONG).freezeS,
  downS: int("down-s", v["down-s"], 0, 3600) ?? (v.ci ? SHORT : LONG).downS,
  items: int("items", v.items, 1, 1000) ?? (v.ci ? SHORT : LONG).items,
};
const extra: Record<string, string> = {};
for (const kv of v.set) {
  const i = kv.indexOf("=");
  if (i <= 0) usage(`--set: expected key=value, got ${JSON.stringify(kv)}`);
  extra[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
}
const perSubnetFlag = int("per-subnet", v["per-subnet"], 1, MAX_HOSTS);
const known = new Set(SCENARIOS.flatMap((s) => s.optional));
for (const r of v.require) if (!known.has(r)) usage(`--require: no optional check ${JSON.stringify(r)} (known: ${[...known].join(", ")})`);

function wanOf(s: Scenario): Wan {
  let { minMs, maxMs } = s.wan;
  if (v.delay !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(v.delay);
    if (!m || Number(m[2] ?? m[1]) < Number(m[1])) usage(`--delay: expected MIN-MAX in ms, got ${JSON.stringify(v.delay)}`);
    [minMs, maxMs] = [Number(m[1]), Number(m[2] ?? m[1])];
  }
  const lossPct = v.loss === undefined ? s.wan.lossPct : Number(v.loss);
  if (!(lossPct >= 0 && lossPct <= 100)) usage(`--loss: expected a percentage 0-100, got ${JSON.stringify(v.loss)}`);
  return { minMs, maxMs, jitterMs: int("jitter", v.jitter, 0, 10_000) ?? s.wan.jitterMs, lossPct };
}

// --- commands that need no bed ----------------------------------------------------------------

if (command === "list") {
  for (const s of SCENARIOS) {
    const ci = CI_SCENARIOS.includes(s.name) ? ` [CI: ${s.ci.hosts} hosts, ${s.ci.perSubnet} per /24]` : "";
    console.log(`${s.name.padEnd(19)} ${s.hosts} hosts, ${s.perSubnet} per /24${ci}: ${s.summary}`);
  }
  process.exit(0);
}

/** Run prefixes are `nb<pid of the outer process>x<scenario index>`: unique per run, so parallel runs never meet. */
const PREFIX = /^(nb(\d+)x\d+)-/;

if (command === "clean") {
  requireRoot("clean");
  let n = 0;
  for (const line of sh(["ip", "netns", "list"]).split("\n")) {
    const m = PREFIX.exec(line);
    if (!m || pidAlive(Number(m[2]))) continue;
    const ns = line.split(" ")[0]!;
    removeNamespace(ns);
    console.log(`netbed: removed namespace ${ns} (its run, pid ${m[2]}, is gone)`);
    n++;
  }
  console.log(`netbed: ${n} leftover namespace(s) removed`);
  process.exit(0);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    console.log(`FAIL netbed ${what}: needs root (network namespaces, TUN devices, iptables); run it as root`);
    process.exit(1);
  }
}

const chosen: Scenario[] =
  command === "all" ? [...SCENARIOS] : command === "ci" ? CI_SCENARIOS.map((n) => scenarioNamed(n)!) : [scenarioNamed(command) ?? usage(`no scenario ${JSON.stringify(command)}`)];
const ci = v.ci || command === "ci";

if (v.inner !== undefined) process.exit(await inner(chosen[0]!, v.inner));
process.exit(await outer());

// --- the outer process: root namespace ------------------------------------------------------------

async function outer(): Promise<number> {
  let failed = 0;
  for (const [i, s] of chosen.entries()) {
    const t0 = performance.now();
    const ok = await outerOne(s, `nb${process.pid}x${i + 1}`);
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(`${ok ? "PASS" : "FAIL"} netbed ${s.name} (${secs} s)`);
    if (!ok) failed++;
  }
  if (chosen.length > 1) console.log(`netbed: ${chosen.length - failed} of ${chosen.length} scenarios passed`);
  return failed === 0 ? 0 : 1;
}

/** Preconditions that make a run impossible; each is a FAIL, never a skip. */
function preflight(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, TUN devices, iptables); run it as root";
  for (const tool of ["ip", "nsenter", "iptables-restore"]) {
    if (!have(tool)) return `${tool} not found (Debian: apt-get install -y iproute2 util-linux iptables)`;
  }
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun does not exist (no TUN support)";
  if (!existsSync(v.gossip)) return `${v.gossip} does not exist; build it: bun build --compile src/main.ts --outfile dist/gossip`;
  return null;
}

async function outerOne(s: Scenario, prefix: string): Promise<boolean> {
  const why = preflight();
  if (why !== null) {
    console.log(`netbed[${s.name}]: ${why}`);
    return false;
  }
  const ctl = `${prefix}-ctl`;
  // Names with our pid in them can only be left over from an earlier boot or session.
  for (const ns of namespacesOf(prefix)) removeNamespace(ns);
  try {
    sh(["ip", "netns", "add", ctl]);
  } catch (e) {
    console.log(`netbed[${s.name}]: cannot create a network namespace: ${(e as Error).message}`);
    return false;
  }
  const args = process.argv.slice(2).filter((a) => a !== command);
  const child = Bun.spawn(
    ["nsenter", `--net=/run/netns/${ctl}`, process.execPath, import.meta.path, s.name, ...args, ...(ci ? ["--ci"] : []), "--seed", String(seed), "--inner", prefix],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  // Ctrl-C reaches the child too (same process group); SIGTERM is passed on. Either way the
  // child tears its bed down; whatever is left is removed below.
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    child.kill(sig);
    setTimeout(() => child.kill("SIGKILL"), 20_000).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await child.exited;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const left = namespacesOf(prefix);
  for (const ns of left) removeNamespace(ns);
  if (left.some((ns) => ns !== ctl)) console.log(`netbed[${s.name}]: removed leftover namespaces ${left.join(", ")}`);
  if (stopping) {
    console.log(`netbed[${s.name}]: interrupted`);
    process.exit(130);
  }
  return code === 0;
}

// --- the inner process: the run's control namespace ------------------------------------------------

async function inner(s: Scenario, prefix: string): Promise<number> {
  const say = (l: string) => console.log(`netbed[${s.name}]: ${l}`);
  const hosts = hostsFlag ?? (ci ? s.ci.hosts : s.hosts);
  const perSubnet = perSubnetFlag ?? (ci ? s.ci.perSubnet : s.perSubnet);
  const keep = v["keep-logs"];
  const dir = keep === undefined ? mkdtempSync(join(tmpdir(), `netbed-${s.name}-`)) : freshDir(join(resolve(keep), s.name));
  const teardowns: Array<() => Promise<void>> = [];
  // One teardown, however many signals arrive (Ctrl-C reaches this process from the terminal
  // and again from the outer process): every caller waits for the same one.
  let torn: Promise<void> | null = null;
  const teardown = () =>
    (torn ??= (async () => {
      for (const f of teardowns.reverse()) await f().catch((e) => say(`teardown: ${(e as Error).message}`));
    })());
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (torn === null) say(`${sig}: tearing the bed down; configs and node logs kept in ${dir}`);
      void teardown().then(() => process.exit(130));
    });
  }
  const wan = wanOf(s);
  say(`${s.summary}`);
  say(`seed ${seed}, ${hosts} hosts (${perSubnet} per /24), ${ci ? "CI timing" : "full timing"} (partition ${timing.partitionS} s, freeze ${timing.freezeS} s, down ${timing.downS} s, ${timing.items} items per round), files in ${dir}`);
  let passed = false;
  try {
    const run = await Run.setup(
      {
        scenario: s.name,
        prefix,
        hosts,
        perSubnet,
        wan,
        seed,
        dir,
        gossip: resolve(v.gossip),
        logLevel: v["log-level"],
        extra,
        require: new Set(v.require),
        bits,
      },
      (f) => teardowns.push(f),
    );
    await s.run(run, timing);
    await run.checkExactlyOnce();
    const st = await run.bed.routerStats();
    if (st) run.say(`router: ${st.forwarded} packets (${Math.round(st.bytes / 1e3)} kB) forwarded, ${st.unroutable} unroutable, ${st.overflow} dropped on full queues`);
    passed = run.passed();
    if (!passed) {
      const logs = run.failureLogs();
      if (logs) console.log(logs);
    }
  } catch (e) {
    say(`FAIL: ${(e as Error).stack ?? String(e)}`);
  }
  await teardown();
  if (passed && keep === undefined) rmSync(dir, { recursive: true, force: true });
  else say(`configs and node logs kept in ${dir}`);
  return passed ? 0 : 1;
}

/** DIR, or DIR.2, DIR.3, ... if it exists: --keep-logs never mixes two runs' logs. */
function freshDir(base: string): string {
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}.${i}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}
