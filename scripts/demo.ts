// The README's main job: start a local network of gossip nodes (separate processes, the
// configs `gossip config network` writes), subscribe a module on every node, announce one
// item on node 1, show it arriving everywhere, then shut the network down cleanly.
//
//   npm run demo -- [--nodes N] [--base-port P] [--keep] [--help]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const HELP = `Usage: npm run demo -- [options]     (or: npx bun scripts/demo.ts [options])

Starts N local gossip nodes (separate processes on 127.0.0.1), subscribes a module to data
type 540 on nodes 2..N, announces one item on node 1, prints each arrival, then stops the
network with SIGTERM.

Options:
  --nodes <n>       number of nodes, 2-50 (default 5)
  --base-port <p>   p2p port of node 1; nodes use p..p+n-1, their APIs p+1000.. (default 6001)
  --keep            keep the temp dir with the configs and hostkeys
  -h, --help        print this help and exit`;

function usage(message: string): never {
  console.error(`demo: ${message}\n\n${HELP}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { nodes: number; basePort: number; keep: boolean } {
  const o = { nodes: 5, basePort: 6001, keep: false };
  const int = (name: string, text: string | undefined, min: number, max: number): number => {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      usage(`${name}: expected an integer ${min}-${max}, got ${JSON.stringify(text ?? "")}`);
    }
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      console.log(HELP);
      process.exit(0);
    } else if (a === "--nodes") o.nodes = int(a, argv[++i], 2, 50);
    else if (a === "--base-port") o.basePort = int(a, argv[++i], 1, 65535 - 1000 - 50);
    else if (a === "--keep") o.keep = true;
    else usage(`unknown option ${JSON.stringify(a)}`);
  }
  return o;
}

const root = join(import.meta.dir, "..");
const args = parseArgs(process.argv.slice(2));
const N = args.nodes;
const BASE = args.basePort;
const keep = args.keep;
const gossip = [process.execPath, join(root, "src", "main.ts")];
const dir = mkdtempSync(join(tmpdir(), "gossip-demo-"));
const started: Subprocess[] = [];

function say(line: string): void {
  console.log(`demo: ${line}`);
}

async function lines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
}

async function cleanup(): Promise<void> {
  for (const p of started) if (p.exitCode === null) p.kill("SIGTERM");
  await Promise.all(started.map((p) => p.exited));
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

async function main(): Promise<number> {
  say(`writing configs for ${N} nodes into ${dir} (RSA hostkeys, p2p ports ${BASE}.., api ports ${BASE + 1000}..)`);
  const cfg = Bun.spawnSync([...gossip, "config", "network", "--nodes", String(N), "--dir", dir, "--base-port", String(BASE), "--bits", "2048"], {
    stderr: "inherit",
  });
  if (cfg.exitCode !== 0) return 1;

  say("starting the nodes; node 1 is the first peer, the others join through it");
  const ready: Promise<void>[] = [];
  const joined = new Set<number>();
  for (let k = 1; k <= N; k++) {
    const p = Bun.spawn([...gossip, "run", "-c", join(dir, `node${k}.ini`)], { stdout: "pipe", stderr: "pipe" });
    started.push(p);
    ready.push(
      new Promise<void>((resolve, reject) => {
        void lines(p.stdout, (l) => {
          if (l.startsWith("ready ")) {
            say(`node ${k}: ${l}`);
            resolve();
          }
        });
        void p.exited.then((code) => reject(new Error(`node ${k} exited with ${code} before it was ready (port in use? try --base-port)`)));
      }),
    );
    void lines(p.stderr, (l) => {
      if (l.includes("neighbour up")) joined.add(k);
      if (l.includes(" ERROR ") || l.includes(" WARN ")) console.error(`node ${k}: ${l}`);
    });
  }
  await Promise.all(ready);
  const deadline = Date.now() + 30_000;
  while (joined.size < N && Date.now() < deadline) await Bun.sleep(50);
  if (joined.size < N) {
    say(`only ${joined.size} of ${N} nodes found a neighbour within 30 s`);
    return 1;
  }
  say(`all ${N} nodes have neighbours (each join solved a proof of work and signed a handshake)`);
  await Bun.sleep(500);

  say(`subscribing a module to data type 540 on nodes 2..${N} (gossip notify)`);
  const subs: Array<Promise<{ k: number; line: string; ms: number }>> = [];
  let t0 = 0;
  for (let k = 2; k <= N; k++) {
    const p = Bun.spawn([...gossip, "notify", "--type", "540", "--count", "1", "--timeout", "20", "-c", join(dir, `node${k}.ini`)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    started.push(p);
    subs.push(
      new Promise((resolve, reject) => {
        void lines(p.stdout, (line) => resolve({ k, line, ms: performance.now() - t0 }));
        void p.exited.then((code) => code !== 0 && reject(new Error(`the subscriber on node ${k} exited with ${code}`)));
      }),
    );
  }
  await Bun.sleep(500);

  const data = Buffer.from("hello from node 1").toString("hex");
  say(`node 1: gossip announce --type 540 --data ${data}`);
  t0 = performance.now();
  const ann = Bun.spawnSync([...gossip, "announce", "--type", "540", "--data", data, "-c", join(dir, "node1.ini")], { stderr: "inherit" });
  if (ann.exitCode !== 0) return 1;
  for (const p of subs.map((s) => s.then((r) => say(`node ${r.k} got it after ${r.ms.toFixed(0)} ms: ${r.line}`)))) await p;
  say(`the item reached all ${N - 1} other nodes`);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  say(`failed: ${(e as Error).message}`);
} finally {
  say("shutting the network down (SIGTERM to each node)");
  await cleanup();
}
say(code === 0 ? "done" : "failed");
process.exit(code);
