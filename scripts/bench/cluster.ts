// The parent's handle on a benchmark network: K worker processes hosting N nodes between
// them (node i lives in worker i mod K), with calls to one worker or to all, and the
// network-wide views, counters and delivery counts assembled from their replies.

import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Command, Commands, Counts, NodeView, Reply, WorkerStats } from "./protocol.ts";

const WORKER = join(import.meta.dir, "worker.ts");
const CALL_TIMEOUT_MS = 120_000;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

class Worker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  readonly proc: Subprocess;
  exited = false;

  constructor(
    readonly index: number,
    profileDir: string | null,
  ) {
    // --cpu-prof: each worker writes a profile (and its Markdown summary) when it exits.
    const prof = profileDir ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profileDir}`] : [];
    this.proc = Bun.spawn([process.execPath, ...prof, WORKER], {
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (m: Reply) => this.onReply(m),
      serialization: "advanced",
    });
    live.add(this.proc);
    void this.proc.exited.then((code) => {
      this.exited = true;
      live.delete(this.proc);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`bench worker ${this.index} (pid ${this.proc.pid}) exited with ${code}`));
      }
      this.pending.clear();
    });
  }

  call<K extends Command>(cmd: K, args: Commands[K]["args"], timeoutMs = CALL_TIMEOUT_MS): Promise<Commands[K]["result"]> {
    if (this.exited) return Promise.reject(new Error(`bench worker ${this.index} is gone`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`bench worker ${this.index}: ${cmd} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ id, cmd, args });
    });
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`bench worker ${this.index}: ${m.error}`));
  }
}

/** Every worker process alive, so that a signal or a crash of the parent can kill them by pid. */
const live = new Set<Subprocess>();
export function killAllWorkers(): void {
  for (const p of live) p.kill("SIGKILL");
}

export interface ClusterOptions {
  readonly nodes: number;
  readonly procs: number;
  readonly bits: number;
  readonly logLevel: string;
  readonly payload: number;
  readonly profileDir: string | null;
}

export interface Overlay {
  /** Undirected adjacency over live nodes (an edge when either end lists the other as active). */
  readonly adj: Map<number, Set<number>>;
  /** Active-view size per live node, as the node itself reports it. */
  readonly degrees: Map<number, number>;
}

export class Cluster {
  readonly workers: Worker[];
  readonly live = new Set<number>();
  idleRssBaseline: number[] = [];

  private constructor(readonly opts: ClusterOptions) {
    this.workers = Array.from({ length: opts.procs }, (_, i) => new Worker(i, opts.profileDir));
    for (let i = 0; i < opts.nodes; i++) this.live.add(i);
  }

  static async spawn(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    try {
      const r = await c.each((w) => w.call("init", { worker: w.index, indices: c.indicesOf(w.index), bits: opts.bits, logLevel: opts.logLevel, payload: opts.payload }));
      c.idleRssBaseline = r.map((x) => x.rssBaseline);
    } catch (e) {
      await c.shutdown();
      throw e;
    }
    return c;
  }

  indicesOf(worker: number): number[] {
    const out: number[] = [];
    for (let i = worker; i < this.opts.nodes; i += this.opts.procs) out.push(i);
    return out;
  }

  workerOf(idx: number): Worker {
    return this.workers[idx % this.opts.procs]!;
  }

  each<T>(f: (w: Worker) => Promise<T>): Promise<T[]> {
    return Promise.all(this.workers.map(f));
  }

  /** Starts node 0 alone as the first peer, then every other node joining through it. */
  async start(settings: Record<string, string>, staggerMs: number): Promise<void> {
    const [first] = await this.workers[0]!.call("start", { indices: [0], bootstrapper: null, settings, staggerMs: 0 });
    const boot = first!.p2p;
    await this.each((w) => w.call("start", { indices: this.indicesOf(w.index).filter((i) => i !== 0), bootstrapper: boot, settings, staggerMs }));
  }

  async views(): Promise<Overlay> {
    const all: NodeView[] = (await this.each((w) => w.call("views", {}))).flat();
    const byId = new Map(all.map((v) => [v.id, v.idx]));
    const adj = new Map<number, Set<number>>();
    const degrees = new Map<number, number>();
    for (const v of all) adj.set(v.idx, new Set());
    for (const v of all) {
      degrees.set(v.idx, v.active.length);
      for (const id of v.active) {
        const j = byId.get(id);
        if (j === undefined) continue;
        adj.get(v.idx)!.add(j);
        adj.get(j)!.add(v.idx);
      }
    }
    return { adj, degrees };
  }

  async stats(gc = false): Promise<WorkerStats[]> {
    return this.each((w) => w.call("stats", { gc }));
  }

  async setPhase(phase: number, detail: boolean): Promise<void> {
    await this.each((w) => w.call("phase", { phase, detail }));
  }

  async announce(idx: number, phase: number, item: number): Promise<number> {
    return (await this.workerOf(idx).call("announce", { idx, phase, item })).sentAt;
  }

  /** Deliveries per item at subscribing modules, summed over workers, and each item's latest arrival. */
  async counts(phase: number): Promise<Map<number, { n: number; maxLat: number }>> {
    const parts: Counts[] = await this.each((w) => w.call("counts", { phase }));
    const out = new Map<number, { n: number; maxLat: number }>();
    for (const p of parts) {
      for (let i = 0; i < p.items.length; i++) {
        const item = p.items[i]!;
        const e = out.get(item);
        if (e) {
          e.n += p.counts[i]!;
          e.maxLat = Math.max(e.maxLat, p.maxLatency[i]!);
        } else out.set(item, { n: p.counts[i]!, maxLat: p.maxLatency[i]! });
      }
    }
    return out;
  }

  async kill(indices: readonly number[]): Promise<number> {
    for (const i of indices) this.live.delete(i);
    const r = await this.each((w) => w.call("kill", { indices: indices.filter((i) => i % this.opts.procs === w.index) }));
    return Math.min(...r.map((x) => x.at));
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.call("shutdown", {}, 5000)));
    const deadline = setTimeout(() => {
      for (const w of this.workers) if (!w.exited) w.proc.kill("SIGKILL");
    }, 3000);
    await Promise.all(this.workers.map((w) => w.proc.exited));
    clearTimeout(deadline);
  }
}

/** Sums numeric fields of the workers' stats. */
export function total(stats: readonly WorkerStats[], key: keyof WorkerStats): number {
  return stats.reduce((s, x) => s + x[key], 0);
}
