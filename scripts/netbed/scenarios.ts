// The test bed's scenarios. Each runs on a fresh bed (scripts/netbed/harness.ts) and records
// checks; a scenario passes when every check that counts is ok. Every delivery check means:
// each expected node's probe got each announced item (exactly once is checked at the end).

import type { Wan } from "./bed.ts";
import type { Run } from "./harness.ts";

export interface Timing {
  /** Partition length (scenario partition), freeze length (scenario freeze). */
  readonly partitionS: number;
  readonly freezeS: number;
  /** How long a restarted node stays down (scenario bootstrap-gone). */
  readonly downS: number;
  /** Items per broadcast round. */
  readonly items: number;
}

export const LONG: Timing = { partitionS: 45, freezeS: 20, downS: 10, items: 5 };
/** The CI tier's shorter variants (scripts/test.ts): a few minutes for the whole set. */
export const SHORT: Timing = { partitionS: 15, freezeS: 10, downS: 5, items: 3 };

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  readonly hosts: number;
  /** Hosts per /24 (4: 10.1.1.1-4, 10.1.2.1-4, ...). */
  readonly perSubnet: number;
  /** Hosts and hosts per /24 in the CI tier (--ci). */
  readonly ci: { readonly hosts: number; readonly perSubnet: number };
  readonly wan: Wan;
  /** Optional checks this scenario records (asserted only with --require NAME). */
  readonly optional: readonly string[];
  run(r: Run, t: Timing): Promise<void>;
}

/** Scenarios without their own WAN: a small delay, so every packet still crosses the router. */
export const LAN: Wan = { minMs: 5, maxMs: 20, jitterMs: 2, lossPct: 0 };
export const WAN: Wan = { minMs: 20, maxMs: 100, jitterMs: 10, lossPct: 5 };

/**
 * Hosts per /24 in the CI tier: 3, not 4. With 4 (and the default view_prefix_limit of 3) the
 * bootstrapper refuses the fourth host of a /24 that joins through it, and that host keeps
 * retrying the refused JOIN and never gets in (docs/TESTBED.md, "Results"); the CI set checks
 * the other mechanisms, and goes back to 4 when prefix limits prefer instead of refuse.
 */
export const CI_PER_SUBNET = 4;

/** How long the overlay may take to form on a fresh bed: every link pays a 21-bit proof of work. */
const FORM_MS = 120_000;
/** How long a round may take to reach everyone. */
const DELIVER_MS = 30_000;
/** How long the overlay may take to mend after a fault (refresh runs every ~5 s in the bed). */
const MEND_MS = 90_000;

async function formed(r: Run): Promise<boolean> {
  return r.waitOverlay("overlay formed", [r.all()], { deadlineMs: FORM_MS, steadyMs: 3000 });
}

/** Kills h1, every other node's bootstrapper, for good (its host drops every packet first); returns the others. */
async function killBootstrapper(r: Run): Promise<number[]> {
  r.bed.vanish(r.hosts[0]!);
  await r.node(1).kill();
  r.probe.drop(1);
  r.say("killed h1, the bootstrapper of every other node; its host drops every packet");
  return r.all().slice(1);
}

function third(r: Run, from: readonly number[]): number[] {
  return r.pick(from, Math.max(1, Math.round(r.hosts.length / 3)));
}

const names = (ks: readonly number[]) => ks.map((k) => `h${k}`).join(",");

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "wan",
    summary: "WAN delay 20-100 ms per host pair with jitter and 5% loss: every node gets every item",
    hosts: 12,
    perSubnet: 4,
    ci: { hosts: 10, perSubnet: CI_PER_SUBNET },
    wan: WAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      await r.broadcast("delivery under delay and loss", { items: t.items * 2, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
    },
  },
  {
    name: "partition",
    summary: "a split into two halves, broadcasts on both sides, then a heal: new items reach everyone",
    hosts: 12,
    perSubnet: 4,
    ci: { hosts: 8, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      await r.broadcast("before the split", { items: t.items, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
      const half = Math.floor(r.hosts.length / 2);
      const left = r.all().slice(0, half);
      const right = r.all().slice(half);
      const sideOf = (k: number) => (left.includes(k) ? left : right);
      const cutAt = performance.now();
      r.bed.partition([left.map((k) => r.hosts[k - 1]!), right.map((k) => r.hosts[k - 1]!)]);
      r.say(`partition for ${t.partitionS} s: ${names(left)} | ${names(right)}`);
      // Broadcast once no link crosses the cut (keepalive drops the silent ones), so each
      // side's items travel over links that work.
      await r.waitOverlay("each side connected on its own, no link across", [left, right], { deadlineMs: 30_000 });
      const split = await r.broadcast("during the split, within each side", { items: t.items * 2, from: r.all(), expect: sideOf, deadlineMs: DELIVER_MS });
      const restMs = t.partitionS * 1000 - (performance.now() - cutAt);
      if (restMs > 0) await Bun.sleep(restMs); // the scripted length of the partition
      r.bed.heal();
      r.say("healed");
      await r.waitOverlay("one overlay again after the heal", [r.all()], { deadlineMs: MEND_MS });
      await r.broadcast("after the heal", { items: t.items, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
      // Items announced during the split reach the other side: the first links across the
      // healed cut offer what each side spread lately (offer_recent_ms), and they spread on.
      const tally = () => {
        const crossed: string[] = [];
        let want = 0;
        let got = 0;
        for (const x of split.items) {
          const other = r.all().filter((k) => !sideOf(x.origin).includes(k));
          const reached = other.filter((k) => r.probe.count(x.item, k) > 0).length;
          want += other.length;
          got += reached;
          crossed.push(`from h${x.origin}: ${reached}/${other.length}`);
        }
        return { want, got, crossed };
      };
      const end = performance.now() + DELIVER_MS;
      while (tally().got < tally().want && performance.now() < end) await Bun.sleep(100);
      const { want, got, crossed } = tally();
      r.check({ name: "items of the split reach the other side after the heal", ok: got === want, detail: `${got} of ${want} (${crossed.join("; ")})` });
    },
  },
  {
    name: "freeze",
    summary: "a third of the nodes SIGSTOPped, then SIGCONT: the others deliver during, everyone after",
    hosts: 12,
    perSubnet: 4,
    ci: { hosts: 9, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      const frozen = third(r, r.all());
      const awake = r.all().filter((k) => !frozen.includes(k));
      const at = performance.now();
      for (const k of frozen) r.node(k).freeze();
      r.say(`froze ${names(frozen)} for ${t.freezeS} s`);
      const during = await r.broadcast("during the freeze, to the nodes not frozen", { items: t.items, from: awake, expect: () => awake, deadlineMs: DELIVER_MS });
      const restMs = t.freezeS * 1000 - (performance.now() - at);
      if (restMs > 0) await Bun.sleep(restMs); // the scripted length of the freeze
      for (const k of frozen) r.node(k).thaw();
      r.say(`thawed ${names(frozen)}`);
      await r.waitOverlay("one overlay after the thaw", [r.all()], { deadlineMs: MEND_MS });
      await r.broadcast("after the thaw, to everyone", { items: t.items, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
      // What the frozen nodes missed comes with the offers of their new links (offer_recent_ms).
      const want = during.items.length * frozen.length;
      const tally = () => during.items.reduce((n, x) => n + frozen.filter((k) => r.probe.count(x.item, k) > 0).length, 0);
      const end = performance.now() + DELIVER_MS;
      while (tally() < want && performance.now() < end) await Bun.sleep(100);
      const got = tally();
      r.check({ name: "items of the freeze reach the frozen nodes after the thaw", ok: got === want, detail: `${got} of ${want}` });
    },
  },
  {
    name: "kill",
    summary: "a third of the nodes killed at once (their hosts vanish): the survivors deliver",
    hosts: 12,
    perSubnet: 4,
    ci: { hosts: 9, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      const dead = third(r, r.all().slice(1));
      for (const k of dead) r.bed.vanish(r.hosts[k - 1]!);
      await Promise.all(dead.map((k) => r.node(k).kill()));
      for (const k of dead) r.probe.drop(k);
      const alive = r.all().filter((k) => !dead.includes(k));
      r.say(`killed ${names(dead)} (their hosts drop every packet, then SIGKILL)`);
      await r.broadcast("right after the kill, to the survivors", { items: t.items, from: alive, expect: () => alive, deadlineMs: DELIVER_MS });
      await r.waitOverlay("the survivors' overlay without the dead", [alive], { deadlineMs: MEND_MS, gone: dead });
      await r.broadcast("after repair, to the survivors", { items: t.items, from: alive, expect: () => alive, deadlineMs: DELIVER_MS });
    },
  },
  {
    name: "bootstrap-gone",
    summary: "the bootstrapper h1 dead for good while other nodes restart (down for a while, same config and hostkey)",
    hosts: 10,
    perSubnet: 4,
    ci: { hosts: 8, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      const alive = await killBootstrapper(r);
      for (const k of third(r, alive)) {
        await r.restart(k, t.downS * 1000);
        r.say(`restarted h${k} after ${t.downS} s down`);
        await r.waitOverlay(`h${k} back in the overlay after its restart`, [alive], { deadlineMs: 60_000, gone: [1] });
      }
      await r.broadcast("after the restarts, to every live node", { items: t.items, from: alive, expect: () => alive, deadlineMs: DELIVER_MS });
    },
  },
  {
    name: "bootstrap-gone-all",
    summary: "the bootstrapper h1 dead for good, then every other node stopped at once and started again",
    hosts: 8,
    perSubnet: 4,
    ci: { hosts: 6, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, t) {
      if (!(await formed(r))) return;
      const alive = await killBootstrapper(r);
      // No live node remembers another across this: only what a node keeps on disk (or its
      // bootstrapper, gone) can bring the overlay back.
      for (const k of alive) r.probe.drop(k);
      await Promise.all(alive.map((k) => r.node(k).stop()));
      r.say(`stopped ${names(alive)} for ${t.downS} s`);
      await Bun.sleep(t.downS * 1000); // the scripted outage
      await Promise.all(alive.map(async (k) => {
        await r.node(k).start();
        await r.probe.subscribe(k, r.node(k).lives);
      }));
      r.say(`started ${names(alive)} again`);
      await r.waitOverlay("one overlay after the restart of every node", [alive], { deadlineMs: 60_000, gone: [1] });
      await r.broadcast("after the restart, to every live node", { items: t.items, from: alive, expect: () => alive, deadlineMs: DELIVER_MS });
    },
  },
  {
    name: "rolling",
    summary: "a rolling restart of every node, the first peer h1 last: one overlay and full delivery after each",
    hosts: 8,
    perSubnet: 4,
    ci: { hosts: 6, perSubnet: CI_PER_SUBNET },
    wan: LAN,
    optional: [],
    async run(r, _t) {
      if (!(await formed(r))) return;
      for (const k of [...r.all().slice(1), 1]) {
        await r.restart(k);
        r.say(`restarted h${k}`);
        await r.waitOverlay(`one overlay after restarting h${k}`, [r.all()], { deadlineMs: 60_000 });
        await r.broadcast(`delivery after restarting h${k}`, { items: 1, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
      }
    },
  },
  {
    name: "one24",
    summary: "16 hosts in one /24 on the default view_prefix_limit: every node has neighbours, 100% delivery",
    hosts: 16,
    perSubnet: 16,
    ci: { hosts: 16, perSubnet: 16 },
    wan: LAN,
    optional: [],
    async run(r, t) {
      await r.waitOverlay("every node reaches neighbours, one overlay", [r.all()], { deadlineMs: FORM_MS, steadyMs: 3000 });
      await r.broadcast("delivery to all 16", { items: t.items, from: r.all(), expect: () => r.all(), deadlineMs: DELIVER_MS });
    },
  },
];

/** The scenarios the CI tier runs (scripts/test.ts), with SHORT timing and ciHosts hosts. */
export const CI_SCENARIOS: readonly string[] = ["wan", "partition", "freeze", "kill", "bootstrap-gone-all", "rolling", "one24"];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
