// A simulated network: N nodes of the real protocol core (src/core/) on the in-memory
// transport and one virtual clock. Tracks every broadcast (who got it, when, after how many
// hops, how many copies) so scenarios can report what the HyParView and Plumtree papers
// report, and checks the invariants the fuzzer asserts.

import { parseConfig } from "../config/load.ts";
import { DEFAULT_CONFIG_TEXT, type Config, type Dissemination } from "../config/schema.ts";
import { rememberIdKeys } from "../core/caches.ts";
import { type CoreState, GossipCore, LEAVE_GRACE_MS, newScores } from "../core/core.ts";
import type { Verdict } from "../core/dissemination.ts";
import type { Env } from "../core/env.ts";
import { Logger } from "../util/log.ts";
import { SimClock, subSeed } from "./clock.ts";
import { type HostileBehaviour, HostileNode, JUNK_TYPE } from "./hostile.ts";
import { type LatencyModel, MemTransport, SimNet } from "./network.ts";
import { mulberry32 } from "../util/prng.ts";

/** What a node's local modules do with items from peers. */
export type ModulePolicy = "valid" | "invalid" | "slow" | "none";

export const DATA_TYPE = 540;

export interface WorldOptions {
  readonly seed: number;
  readonly mode: Dissemination;
  readonly latency: LatencyModel;
  /** Probability that one message is lost. */
  readonly loss?: number;
  /** [gossip] keys over the defaults (e.g. degree, shuffle_interval_ms). */
  readonly settings?: Readonly<Record<string, string>>;
  /** Virtual ms a module takes to answer a notification. */
  readonly validateMs?: number;
  /** Log level for every node (default silent, or GOSSIP_SIM_LOG). */
  readonly logLevel?: "debug" | "info" | "warn" | "error" | "silent";
  /** Where log lines go (default stderr, stamped with virtual time). */
  readonly logSink?: (line: string) => void;
}

export class SimNode {
  alive = true;
  policy: ModulePolicy = "valid";
  /** Deliveries to local modules, by item key (more than 1: delivered twice). */
  readonly delivered = new Map<string, number>();

  constructor(
    readonly index: number,
    readonly addr: string,
    readonly id: string,
    readonly transport: MemTransport,
    readonly env: Env,
    readonly core: GossipCore | null,
    readonly hostile: HostileNode | null,
  ) {}

  get honest(): boolean {
    return this.core !== null;
  }
  /** Identities of the active view. */
  activeIds(): string[] {
    if (this.core) return [...this.core.membership.active.keys()];
    return this.hostile!.neighbourIds();
  }
}

export interface Broadcast {
  readonly key: string;
  readonly origin: number;
  readonly at: number;
  /** Live honest subscribers (valid policy) other than the origin when it was sent. */
  readonly expected: ReadonlySet<number>;
  /** First delivery per node: virtual time and hops. */
  readonly got: Map<number, { at: number; hops: number }>;
  /** Greatest shortest-path distance from the origin over active views when it was sent. */
  readonly optimalMax: number;
}

/** Address of node i: each node in its own /24 (up to 65,536 nodes; then two per /24). */
export function simAddress(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${1 + (i >> 16)}:6001`;
}

export function simConfig(settings: Readonly<Record<string, string>> = {}, mode: Dissemination = "plumtree"): Config {
  const keys: Record<string, string> = {};
  for (const line of DEFAULT_CONFIG_TEXT.split("\n")) {
    const [k, v] = line.split(" = ") as [string, string];
    keys[k] = v;
  }
  Object.assign(keys, { dissemination: mode }, settings);
  const text = "[gossip]\n" + Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n";
  return parseConfig(text, "sim.ini").config;
}

export class World {
  readonly clock = new SimClock();
  readonly net: SimNet;
  readonly nodes: SimNode[] = [];
  readonly config: Config;
  readonly broadcasts = new Map<string, Broadcast>();
  /** Deliveries of an item to a node that already had it (must stay 0). */
  duplicateDeliveries = 0;
  private readonly rnd: () => number;
  private readonly log: Logger;

  constructor(readonly opts: WorldOptions) {
    // Items travel as shared objects here: keys are made once per id, not once per node.
    rememberIdKeys();
    this.rnd = mulberry32(subSeed(opts.seed, -1));
    this.config = simConfig(opts.settings, opts.mode);
    this.net = new SimNet(this.clock, {
      latency: opts.latency,
      loss: opts.loss ?? 0,
      dialTimeoutMs: this.config.handshakeTimeoutMs,
      rnd: mulberry32(subSeed(opts.seed, -2)),
    });
    this.log = new Logger(opts.logLevel ?? ((process.env.GOSSIP_SIM_LOG ?? "silent") as "silent"), "sim", opts.logSink ?? ((line) => process.stderr.write(`[t=${this.clock.now()}] ${line}\n`)));
  }

  get live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  random(): number {
    return this.rnd();
  }

  /**
   * Adds and starts a node that joins through `via` (null: the first node). Options: its
   * address (default simAddress(index)), a bootstrapper list instead of `via`, its identity
   * (a restart keeps it), the state a previous run saved, and its Env (default: the clock's,
   * seeded from the world's seed and its index).
   */
  addNode(
    via: SimNode | null,
    o: { hostile?: boolean; colluders?: () => string[]; behaviour?: HostileBehaviour; addr?: string; bootstrappers?: readonly string[]; id?: string; state?: CoreState; env?: Env } = {},
  ): SimNode {
    const i = this.nodes.length;
    const addr = o.addr ?? simAddress(i);
    const id = o.id ?? (i.toString(16).padStart(8, "0") + "5eed").padEnd(64, "0");
    const env = o.env ?? this.clock.env(subSeed(this.opts.seed, i));
    const boots = o.bootstrappers ?? (via ? [via.addr] : []);
    const config: Config = { ...this.config, bootstrappers: boots.map((b) => ({ host: b.slice(0, b.lastIndexOf(":")), port: Number(b.slice(b.lastIndexOf(":") + 1)) })) };
    let node: SimNode;
    if (o.hostile) {
      const transport = new MemTransport(this.net, addr, id);
      const hostile = new HostileNode(transport, env, config, o.colluders ?? (() => []), o.behaviour);
      node = new SimNode(i, addr, id, transport, env, null, hostile);
      hostile.start(via?.addr ?? null);
    } else {
      const scores = newScores(config, env);
      const transport = new MemTransport(this.net, addr, id, (pid, ip) => (scores.isBanned(pid, ip) ? "banned" : null));
      const holder: { node?: SimNode } = {};
      const core = new GossipCore({
        config,
        env,
        transport,
        scores,
        log: this.log.child("node", { n: i }),
        validate: (t, data, done) => this.validate(holder.node!, t, done),
        onDelivered: (d) => this.delivered(holder.node!, d.key, d.hops),
      });
      node = holder.node = new SimNode(i, addr, id, transport, env, core, null);
      core.start(o.state);
    }
    this.nodes.push(node);
    return node;
  }

  private validate(node: SimNode, dataType: number, done: (v: Verdict) => void): void {
    const ms = this.opts.validateMs ?? 0;
    let v: Verdict;
    if (dataType === JUNK_TYPE) v = "invalid";
    else if (node.policy === "none") v = "unsubscribed";
    else if (node.policy === "invalid") v = "invalid";
    else if (node.policy === "slow") return void node.env.after(this.config.validationTimeoutS * 1000, () => done("timeout"));
    else v = "valid";
    node.env.after(ms, () => done(v));
  }

  private delivered(node: SimNode, key: string, hops: number): void {
    const n = (node.delivered.get(key) ?? 0) + 1;
    node.delivered.set(key, n);
    if (n > 1) this.duplicateDeliveries++;
    const b = this.broadcasts.get(key);
    if (b && !b.got.has(node.index)) b.got.set(node.index, { at: this.clock.now(), hops });
  }

  /** Kills nodes: `silent` as a crash or cut cable, otherwise as a killed process whose kernel closes its connections. */
  kill(nodes: readonly SimNode[], silent = false): void {
    for (const n of nodes) {
      if (!n.alive) continue;
      n.alive = false;
      this.net.kill(n.transport, silent);
      n.core?.stop();
      n.hostile?.stop();
    }
  }

  /**
   * Graceful leaves (SIGTERM): each node tells its neighbours (DISCONNECT) and is gone once
   * its links have closed (or LEAVE_GRACE_MS of virtual time has passed).
   */
  leave(nodes: readonly SimNode[]): void {
    for (const n of nodes) {
      if (!n.alive || !n.core) continue;
      n.alive = false;
      n.core.stop(true);
      n.env.after(LEAVE_GRACE_MS, () => {
        n.core!.stop();
        this.net.kill(n.transport, false);
      });
    }
  }

  /** Starts a node again on its address and identity (it must be dead), with the state its last run saved. */
  restart(old: SimNode, state?: CoreState, bootstrappers: readonly string[] = []): SimNode {
    if (old.alive) throw new Error(`restart: node ${old.index} is still running`);
    return this.addNode(null, { addr: old.addr, id: old.id, bootstrappers, state });
  }

  /** A broadcast from `origin` (an honest live node). */
  broadcast(origin: SimNode, ttl = 0): Broadcast {
    const data = new Uint8Array(16);
    for (let i = 0; i < 16; i++) data[i] = Math.floor(this.rnd() * 256);
    const expected = new Set<number>();
    for (const n of this.nodes) if (n.alive && n.honest && n !== origin && n.policy === "valid") expected.add(n.index);
    const optimalMax = this.eccentricity(origin);
    const key = origin.core!.announce(ttl, DATA_TYPE, data);
    const b: Broadcast = { key, origin: origin.index, at: this.clock.now(), expected, got: new Map(), optimalMax };
    this.broadcasts.set(key, b);
    return b;
  }

  /** Greatest BFS distance from `from` to any node it reaches over active views (live nodes). */
  eccentricity(from: SimNode): number {
    const byId = this.idIndex();
    const dist = new Map<number, number>([[from.index, 0]]);
    let frontier = [from];
    let d = 0;
    while (frontier.length > 0) {
      const next: SimNode[] = [];
      for (const n of frontier) {
        for (const id of n.activeIds()) {
          const m = byId.get(id);
          if (!m || !m.alive || dist.has(m.index)) continue;
          dist.set(m.index, d + 1);
          next.push(m);
        }
      }
      frontier = next;
      if (next.length > 0) d++;
    }
    return d;
  }

  private idCache: Map<string, SimNode> | null = null;
  idIndex(): Map<string, SimNode> {
    if (!this.idCache || this.idCache.size !== this.nodes.length) this.idCache = new Map(this.nodes.map((n) => [n.id, n]));
    return this.idCache;
  }

  /** Runs the clock for `ms` virtual milliseconds. */
  run(ms: number): void {
    this.clock.run(ms);
  }
}
