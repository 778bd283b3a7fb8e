// One scenario run on a fresh bed: hostkeys and configs, the network, a node per host, the
// probe subscribed on every node; then what scenarios use: the overlay as /status shows it,
// broadcast rounds with their delivery checks, restarts, and the verdict with log excerpts.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateHostkeyPem } from "../../src/config/hostkey.ts";
import { mulberry32 } from "../../src/util/prng.ts";
import { Bed, type Wan } from "./bed.ts";
import { NodeProc } from "./nodes.ts";
import { nodeConfig, P2P_PORT, planHosts, subnetOf, type HostPlan } from "./plan.ts";
import { Probe } from "./probe.ts";
import { poll } from "./proc.ts";

export interface RunOptions {
  readonly scenario: string;
  readonly prefix: string;
  readonly hosts: number;
  /** Hosts per /24 (planHosts). */
  readonly perSubnet: number;
  readonly wan: Wan;
  readonly seed: number;
  readonly dir: string;
  readonly gossip: string;
  readonly logLevel: string;
  readonly extra: Readonly<Record<string, string>>;
  /** Optional checks asserted in this run (--require NAME). */
  readonly require: ReadonlySet<string>;
  readonly bits: number;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Set for a check that only counts when required (--require <optional>). */
  readonly optional?: string;
  /** Hosts whose logs explain a failure. */
  readonly hosts?: readonly number[];
}

export interface Round {
  readonly items: ReadonlyArray<{ readonly item: string; readonly origin: number; readonly expect: readonly number[]; readonly at: number }>;
  /** Per item, the expected hosts that did not get it. */
  readonly missing: ReadonlyMap<string, number[]>;
}

export class Run {
  readonly checks: Check[] = [];
  readonly rand: () => number;
  private readonly t0 = performance.now();
  private itemSeq = 0;
  readonly byAddr: Map<string, number>;

  private constructor(
    readonly o: RunOptions,
    readonly hosts: readonly HostPlan[],
    readonly nodes: readonly NodeProc[],
    readonly bed: Bed,
    readonly probe: Probe,
  ) {
    // Its own stream: the router draws pair delays from the same seed.
    this.rand = mulberry32(o.seed ^ 0x2545f491);
    this.byAddr = new Map(hosts.map((h) => [`${h.addr}:${P2P_PORT}`, h.k]));
  }

  /** Keys, configs and the network; `cleanup` receives the teardown before anything starts. */
  static async setup(o: RunOptions, cleanup: (f: () => Promise<void>) => void): Promise<Run> {
    const say = (l: string) => console.log(`netbed[${o.scenario}]: ${l}`);
    const hosts = planHosts(o.prefix, o.hosts, o.perSubnet);
    const pems = await Promise.all(hosts.map(() => generateHostkeyPem(o.bits)));
    const nodes = hosts.map((h, i) => {
      const dir = join(o.dir, `h${h.k}`);
      mkdirSync(dir, { recursive: true });
      const hostkeyPath = join(dir, "hostkey.pem");
      writeFileSync(hostkeyPath, pems[i]!, { mode: 0o600 });
      const configPath = join(dir, "node.ini");
      const text = nodeConfig({ host: h, bootstrapper: h.k === 1 ? null : hosts[0]!, hostkeyPath, logLevel: o.logLevel, extra: o.extra });
      writeFileSync(configPath, text);
      return new NodeProc(h, configPath, join(dir, "node.log"), o.gossip);
    });
    const probe = new Probe(hosts);
    let bed: Bed | null = null;
    cleanup(async () => {
      probe.close();
      await Promise.all(nodes.map((n) => n.kill()));
      await bed?.destroy();
    });
    bed = await Bed.create(hosts, o.wan, o.seed, say);
    const run = new Run(o, hosts, nodes, bed, probe);
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((n) => n.start()));
    await Promise.all(hosts.map((h) => probe.subscribe(h.k, 1)));
    run.say(`${hosts.length} nodes up and subscribed (${describeLayout(hosts)}); h1 is the first peer, the others bootstrap from it`);
    return run;
  }

  say(line: string): void {
    const s = ((performance.now() - this.t0) / 1000).toFixed(1).padStart(6);
    console.log(`netbed[${this.o.scenario}] +${s}s: ${line}`);
  }

  node(k: number): NodeProc {
    const n = this.nodes[k - 1];
    if (!n) throw new RangeError(`no host h${k}`);
    return n;
  }

  /** Host numbers of nodes that are running and not frozen. */
  live(): number[] {
    return this.nodes.filter((n) => n.state === "up").map((n) => n.host.k);
  }

  all(): number[] {
    return this.hosts.map((h) => h.k);
  }

  /** `n` distinct hosts drawn from `from` with the run's seed. */
  pick(from: readonly number[], n: number): number[] {
    const pool = [...from];
    const out: number[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(this.rand() * pool.length), 1)[0]!);
    return out.sort((a, b) => a - b);
  }

  check(c: Check): boolean {
    this.checks.push(c);
    const optional = c.optional !== undefined && !this.o.require.has(c.optional);
    const mark = c.ok ? "ok  " : optional ? "info" : "FAIL";
    const note = optional && !c.ok ? ` (not asserted; --require ${c.optional} asserts it)` : "";
    this.say(`${mark} ${c.name}: ${c.detail}${note}`);
    return c.ok;
  }

  /** Each node's neighbours (host numbers) as its /status says; a node that does not answer maps to null. */
  async overlay(among: readonly number[]): Promise<Map<number, number[] | null>> {
    const statuses = await Promise.all(among.map((k) => this.probe.status(k)));
    return new Map(among.map((k, i) => [k, statuses[i]?.neighbours.map((n) => this.byAddr.get(n.address) ?? 0) ?? null]));
  }

  /**
   * Waits until the overlay of each group is connected by links inside the group and each of
   * its nodes has at least `min` neighbours there; with several groups (a partition), also
   * until no link crosses between them. Then (best effort, within the same deadline) until no
   * view changed for `steadyMs`. Links to nodes outside every group are ignored, except to
   * those in `gone` (dead nodes): no view may still hold one. Records a check; returns
   * whether the overlay formed.
   */
  async waitOverlay(
    label: string,
    groups: ReadonlyArray<readonly number[]>,
    o: { deadlineMs: number; min?: number; steadyMs?: number; gone?: readonly number[]; optional?: string },
  ): Promise<boolean> {
    const min = o.min ?? 1;
    const among = groups.flat();
    const gone = o.gone ?? [];
    const end = performance.now() + o.deadlineMs;
    let view = new Map<number, number[] | null>();
    const ok = () =>
      groups.every((g) => connected(view, g, min)) &&
      (groups.length === 1 || !crosses(view, groups)) &&
      among.every((k) => !(view.get(k) ?? []).some((x) => gone.includes(x)));
    const started = performance.now();
    const formed = await poll(async () => {
      view = await this.overlay(among);
      return ok();
    }, o.deadlineMs, 250);
    const tookS = ((performance.now() - started) / 1000).toFixed(1);
    if (formed && o.steadyMs) {
      let last = signature(view);
      let since = performance.now();
      await poll(async () => {
        view = await this.overlay(among);
        const sig = signature(view);
        if (sig !== last || !ok()) {
          last = sig;
          since = performance.now();
        }
        return performance.now() - since >= o.steadyMs!;
      }, Math.max(0, end - performance.now()), 250);
    }
    let what = groups.length === 1 ? "connected" : `${groups.length} groups each connected, no link between them`;
    if (gone.length > 0) what += `, no view holding ${gone.map((k) => `h${k}`).join(",")}`;
    const detail = formed
      ? `${what} after ${tookS} s; ${describeView(view)}`
      : `not ${what} with >= ${min} neighbour(s) each within ${o.deadlineMs / 1000} s; ${describeView(view)}`;
    const lonely = groups.flatMap((g) => g.filter((k) => (view.get(k)?.filter((x) => g.includes(x)).length ?? 0) < min));
    return this.check({ name: label, ok: formed, detail, hosts: lonely, ...(o.optional ? { optional: o.optional } : {}) });
  }

  /**
   * Announces `items` items, each from a random host of `from`, and waits until every host
   * `expect(origin)` lists got each one, or `deadlineMs` passes. Records a check unless
   * `record` is false (the round is then only measured).
   */
  async broadcast(
    label: string,
    o: { items: number; from: readonly number[]; expect: (origin: number) => readonly number[]; deadlineMs: number; record?: boolean; optional?: string },
  ): Promise<Round> {
    const items: Array<Round["items"][number]> = [];
    for (let i = 0; i < o.items; i++) {
      const origin = o.from[Math.floor(this.rand() * o.from.length)]!;
      const data = new Uint8Array(16);
      crypto.getRandomValues(data);
      new DataView(data.buffer).setUint32(12, ++this.itemSeq);
      const item = Buffer.from(data).toString("hex");
      items.push({ item, origin, expect: [...o.expect(origin)], at: performance.now() });
      await this.probe.announce(origin, data);
    }
    const missingNow = () => new Map(items.map((x) => [x.item, x.expect.filter((k) => this.probe.count(x.item, k) === 0)] as const).filter(([, m]) => m.length > 0));
    const start = performance.now();
    await poll(() => missingNow().size === 0, o.deadlineMs, 50);
    const missing = missingNow();
    const round: Round = { items, missing };
    if (o.record === false) return round;
    const origins = items.map((x) => `h${x.origin}`).join(",");
    let detail: string;
    if (missing.size === 0) {
      const lastAt = Math.max(...items.flatMap((x) => (this.probe.arrivals.get(x.item) ?? []).map((a) => a.at - x.at)));
      detail = `${items.length} item(s) from ${origins}: every expected host got each (slowest arrival ${Math.round(lastAt)} ms)`;
    } else {
      const lines = [...missing].map(([item, ks]) => `item #${seqOf(item)} from h${items.find((x) => x.item === item)!.origin} missing at ${ks.map((k) => `h${k}`).join(",")}`);
      detail = `${items.length} item(s) from ${origins}, after ${((performance.now() - start) / 1000).toFixed(1)} s: ${lines.join("; ")}`;
    }
    const hosts = [...new Set([...missing.values()].flat())];
    this.check({ name: label, ok: missing.size === 0, detail, hosts, ...(o.optional ? { optional: o.optional } : {}) });
    return round;
  }

  /**
   * Stops host k's node (SIGTERM), keeps it down for `downMs` (a scripted outage), starts it
   * with the same config and hostkey and resubscribes.
   */
  async restart(k: number, downMs = 0): Promise<void> {
    const n = this.node(k);
    this.probe.drop(k);
    await n.stop();
    if (downMs > 0) await Bun.sleep(downMs);
    await n.start();
    await this.probe.subscribe(k, n.lives);
  }

  /** No item arrives twice on one subscription; waits (bounded) until arrivals are quiet first. */
  async checkExactlyOnce(): Promise<void> {
    await poll(() => performance.now() - this.probe.lastArrival >= 1000, 5000, 100);
    const dups: string[] = [];
    const hosts = new Set<number>();
    let total = 0;
    for (const [item, list] of this.probe.arrivals) {
      const seen = new Map<string, number>();
      for (const a of list) {
        total++;
        const key = `h${a.k}/${a.life}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      for (const [key, n] of seen) {
        if (n > 1) {
          dups.push(`item #${seqOf(item)} ${n}x at ${key}`);
          hosts.add(Number(key.slice(1, key.indexOf("/"))));
        }
      }
    }
    this.check({
      name: "exactly once",
      ok: dups.length === 0,
      detail: dups.length === 0 ? `${total} notifications, none repeated on a subscription` : dups.join("; "),
      hosts: [...hosts],
    });
  }

  /** Whether the run passed: every check that counts is ok. */
  passed(): boolean {
    return this.checks.every((c) => c.ok || (c.optional !== undefined && !this.o.require.has(c.optional)));
  }

  /** Log excerpts of the hosts that failing checks name (up to 4 hosts, 12 lines each). */
  failureLogs(): string {
    const hosts = [...new Set(this.checks.filter((c) => !c.ok && (c.optional === undefined || this.o.require.has(c.optional))).flatMap((c) => c.hosts ?? []))];
    return hosts
      .slice(0, 4)
      .map((k) => `--- h${k} (${this.node(k).host.addr}), last log lines without DEBUG:\n${this.node(k).logTail(12)}`)
      .join("\n");
  }
}

function seqOf(item: string): number {
  return parseInt(item.slice(24), 16);
}

function connected(view: ReadonlyMap<number, number[] | null>, among: readonly number[], min: number): boolean {
  if (among.length === 0) return true;
  const inside = (k: number) => (view.get(k) ?? []).filter((x) => among.includes(x));
  if (among.some((k) => view.get(k) === null || inside(k).length < min)) return false;
  const seen = new Set<number>([among[0]!]);
  const queue = [among[0]!];
  while (queue.length > 0) {
    for (const x of inside(queue.pop()!)) {
      if (!seen.has(x)) {
        seen.add(x);
        queue.push(x);
      }
    }
  }
  return seen.size === among.length;
}

/** Whether a node of one group lists a neighbour in another group. */
function crosses(view: ReadonlyMap<number, number[] | null>, groups: ReadonlyArray<readonly number[]>): boolean {
  return groups.some((g) => g.some((k) => (view.get(k) ?? []).some((x) => !g.includes(x) && groups.some((o) => o !== g && o.includes(x)))));
}

function signature(view: ReadonlyMap<number, number[] | null>): string {
  return [...view].map(([k, ns]) => `${k}:${ns === null ? "?" : [...ns].sort((a, b) => a - b).join(",")}`).join(" ");
}

/** e.g. "h1:[2,3,5] h2:[1,3] h3:? (no answer)". */
export function describeView(view: ReadonlyMap<number, number[] | null>): string {
  return [...view].map(([k, ns]) => `h${k}:${ns === null ? "?" : `[${[...ns].sort((a, b) => a - b).join(",")}]`}`).join(" ");
}

function describeLayout(hosts: readonly HostPlan[]): string {
  const subnets = new Map<string, number>();
  for (const h of hosts) {
    const s = `${subnetOf(h.addr)}.0/24`;
    subnets.set(s, (subnets.get(s) ?? 0) + 1);
  }
  return [...subnets].map(([s, n]) => `${n} in ${s}`).join(", ");
}
