// The network of a test bed: one namespace per host, the router process with one TUN per
// host (delay), iptables in each host namespace (loss, partitions, vanished hosts), and a
// control link per host for the API. Runs inside the run's control namespace (scripts/netbed.ts
// enters it with nsenter): the router's TUNs are born there and moved out, and the control
// ends of the veths stay there, so the probe in this process reaches every API while the
// root namespace sees nothing of the bed.
//
//   host namespace <prefix>-hK                       control namespace <prefix>-ctl
//     tunK  10.1.s.i/32, default route  <-- fd -->   router (one fd per TUN; delay)
//     ctl0  10.254.K.2/30  <------- veth ------->    cK 10.254.K.1/30   probe (this process)
//     iptables INPUT -> nb-cut (partitions), statistic DROP on tunK (loss); OUTPUT -> nb-out
//
// The control namespace does not forward (ip_forward is 0 in a new namespace), so hosts reach
// each other only through the router.

import type { Subprocess } from "bun";
import { join } from "node:path";
import { type HostPlan } from "./plan.ts";
import { Lines, sh } from "./proc.ts";
import type { RouterSpec, RouterStats } from "./router.ts";

export interface Wan {
  /** One-way delay per host pair, drawn once from [minMs, maxMs], plus 0..jitterMs per packet. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitterMs: number;
  /** Packets dropped on arrival at each host, in percent (iptables statistic). */
  readonly lossPct: number;
}

/** Chain in every host namespace that partitions and vanished hosts fill; INPUT jumps to it first. */
const CUT_CHAIN = "nb-cut";
/** Chain OUTPUT jumps to first: a vanished host sends nothing either. */
const OUT_CHAIN = "nb-out";

export class Bed {
  private router: Subprocess<"pipe", "pipe", "inherit"> | null = null;
  private routerOut: Lines | null = null;
  private readonly made: string[] = [];
  private readonly vanished = new Set<HostPlan>();

  private constructor(
    readonly hosts: readonly HostPlan[],
    readonly wan: Wan,
  ) {}

  /** Builds the network; on any failure tears down what it made and throws. */
  static async create(hosts: readonly HostPlan[], wan: Wan, seed: number, say: (line: string) => void): Promise<Bed> {
    const bed = new Bed(hosts, wan);
    try {
      await bed.build(seed, say);
    } catch (e) {
      await bed.destroy();
      throw e;
    }
    return bed;
  }

  private async build(seed: number, say: (line: string) => void): Promise<void> {
    for (const h of this.hosts) {
      sh(["ip", "netns", "add", h.ns]);
      this.made.push(h.ns);
    }
    const spec: RouterSpec = {
      hosts: this.hosts.map((h) => ({ tun: h.tun, addr: h.addr })),
      minMs: this.wan.minMs,
      maxMs: this.wan.maxMs,
      jitterMs: this.wan.jitterMs,
      seed,
    };
    const router = Bun.spawn([process.execPath, join(import.meta.dir, "router.ts"), JSON.stringify(spec)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    this.router = router;
    this.routerOut = new Lines(router.stdout);
    const ready = await this.routerOut.next(10_000, "the router's ready line");
    if (!ready.startsWith('{"ready":true')) throw new Error(`router: unexpected first line ${ready}`);

    const batch: string[] = ["link set lo up"];
    for (const h of this.hosts) {
      batch.push(`link set ${h.tun} netns ${h.ns}`, `link add ${h.ctlPeerIf} type veth peer name ${h.ctlIf} netns ${h.ns}`);
      batch.push(`addr add ${h.ctlPeer}/30 dev ${h.ctlPeerIf}`, `link set ${h.ctlPeerIf} up`);
    }
    sh(["ip", "-batch", "-"], batch.join("\n") + "\n");
    for (const h of this.hosts) {
      sh(
        ["ip", "-n", h.ns, "-batch", "-"],
        [
          "link set lo up",
          `addr add ${h.addr}/32 dev ${h.tun}`,
          `link set ${h.tun} up`,
          `route add default dev ${h.tun}`,
          `addr add ${h.ctlAddr}/30 dev ${h.ctlIf}`,
          `link set ${h.ctlIf} up`,
        ].join("\n") + "\n",
      );
      const rules = ["*filter", `:${CUT_CHAIN} - [0:0]`, `:${OUT_CHAIN} - [0:0]`, `-A INPUT -j ${CUT_CHAIN}`, `-A OUTPUT -j ${OUT_CHAIN}`];
      if (this.wan.lossPct > 0) {
        rules.push(`-A INPUT -i ${h.tun} -m statistic --mode random --probability ${(this.wan.lossPct / 100).toFixed(4)} -j DROP`);
      }
      rules.push("COMMIT", "");
      sh(["ip", "netns", "exec", h.ns, "iptables-restore"], rules.join("\n"));
    }
    const loss = this.wan.lossPct > 0 ? `, ${this.wan.lossPct}% loss on arrival` : "";
    say(`network: ${this.hosts.length} namespaces, router delay ${this.wan.minMs}-${this.wan.maxMs} ms per pair + 0-${this.wan.jitterMs} ms jitter${loss}`);
  }

  /** Every host drops packets from the hosts that are not on its side (both directions are cut). */
  partition(sides: ReadonlyArray<readonly HostPlan[]>): void {
    for (const side of sides) {
      const others = this.hosts.filter((h) => !side.includes(h)).map((h) => h.addr);
      for (const h of side) this.setCut(h, others.length === 0 ? [] : [`-s ${others.join(",")} -j DROP`]);
    }
  }

  /** Lifts every partition (vanished hosts stay gone). */
  heal(): void {
    for (const h of this.hosts) if (!this.vanished.has(h)) this.setCut(h, []);
  }

  /**
   * The host drops everything it sends or receives over the network: call it before killing
   * the node, so that not even the kernel's FIN or RST for its sockets gets out. Its peers
   * see silence, as when a machine dies.
   */
  vanish(h: HostPlan): void {
    this.vanished.add(h);
    this.setCut(h, [`-i ${h.tun} -j DROP`], [`-o ${h.tun} -j DROP`]);
  }

  private setCut(h: HostPlan, rules: readonly string[], out: readonly string[] = []): void {
    const text = [
      "*filter",
      `:${CUT_CHAIN} - [0:0]`,
      `:${OUT_CHAIN} - [0:0]`,
      ...rules.map((r) => `-A ${CUT_CHAIN} ${r}`),
      ...out.map((r) => `-A ${OUT_CHAIN} ${r}`),
      "COMMIT",
      "",
    ].join("\n");
    // --noflush keeps INPUT, OUTPUT and the loss rule; declaring a chain flushes only it.
    sh(["ip", "netns", "exec", h.ns, "iptables-restore", "--noflush"], text);
  }

  async routerStats(): Promise<RouterStats | null> {
    if (!this.router || this.router.exitCode !== null || !this.routerOut) return null;
    this.router.stdin.write("stats\n");
    this.router.stdin.flush();
    try {
      return JSON.parse(await this.routerOut.next(2000, "router stats")) as RouterStats;
    } catch {
      return null;
    }
  }

  /**
   * Stops the router and deletes the host namespaces, killing anything still inside them
   * (only processes of this run can be in them). Safe to call twice.
   */
  async destroy(): Promise<void> {
    const router = this.router;
    this.router = null;
    if (router && router.exitCode === null) {
      router.kill("SIGTERM");
      await router.exited;
    }
    for (const ns of this.made.splice(0)) removeNamespace(ns);
  }
}

/** Kills every process in the namespace (by pid, from `ip netns pids`), then deletes it. */
export function removeNamespace(ns: string): void {
  try {
    for (const pid of sh(["ip", "netns", "pids", ns]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  } catch {
    // No such namespace: nothing inside.
  }
  try {
    sh(["ip", "netns", "del", ns]);
  } catch {
    // Deleted already.
  }
}

/** Namespaces whose names start with `prefix-`. */
export function namespacesOf(prefix: string): string[] {
  return sh(["ip", "netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${prefix}-`));
}
