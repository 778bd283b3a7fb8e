// The probe: a module on every node's API, over the control links. On each node it keeps one
// connection subscribed (NOTIFY) that answers every NOTIFICATION valid and counts what
// arrived, and one connection that announces (so the origin's own subscriber is notified
// too: an ANNOUNCE is shown to the other local subscribers). It also reads each node's
// GET /status from the admin listener for the overlay.

import type { NodeStatus } from "../../src/node/admin.ts";
import { ApiClient } from "../../src/net/api-client.ts";
import { toHex } from "../../src/wire/bytes.ts";
import { ADMIN_PORT, API_PORT, type HostPlan } from "./plan.ts";
import { poll } from "./proc.ts";

/** The data type the probe subscribes to and announces (RPS's, as in the README examples). */
export const PROBE_TYPE = 540;

export interface Arrival {
  readonly k: number;
  /** Which subscription (one per start of the node) it came on. */
  readonly life: number;
  readonly at: number;
}

export class Probe {
  private readonly subs = new Map<number, { client: ApiClient; life: number }>();
  private readonly announcers = new Map<number, ApiClient>();
  /** Item (hex) -> every arrival, in order. */
  readonly arrivals = new Map<string, Arrival[]>();
  lastArrival = 0;

  constructor(private readonly hosts: readonly HostPlan[]) {}

  private host(k: number): HostPlan {
    const h = this.hosts[k - 1];
    if (!h) throw new RangeError(`no host h${k}`);
    return h;
  }

  /** Subscribes on host k (again after a restart: `life` tells the subscriptions apart). */
  async subscribe(k: number, life: number, deadlineMs = 10_000): Promise<void> {
    this.drop(k);
    const h = this.host(k);
    const client: ApiClient = await ApiClient.connect(h.ctlAddr, API_PORT, {
      onFrame: (f) => {
        if (!("msg" in f) || f.msg.kind !== "notification") return;
        client.validate(f.msg.id, true);
        if (f.msg.dataType !== PROBE_TYPE) return;
        const item = toHex(f.msg.data);
        const now = performance.now();
        this.lastArrival = now;
        const list = this.arrivals.get(item) ?? [];
        list.push({ k, life, at: now });
        this.arrivals.set(item, list);
      },
    });
    this.subs.set(k, { client, life });
    client.notify(PROBE_TYPE);
    await client.flushed();
    const ok = await poll(async () => ((await this.status(k))?.apiSubscriptions ?? 0) > 0, deadlineMs, 50);
    if (!ok) throw new Error(`h${k}: the subscription did not show in /status within ${deadlineMs} ms`);
  }

  async announce(k: number, data: Uint8Array): Promise<void> {
    let c = this.announcers.get(k);
    if (!c || c.closed) {
      const h = this.host(k);
      c = await ApiClient.connect(h.ctlAddr, API_PORT);
      this.announcers.set(k, c);
    }
    c.announce(0, PROBE_TYPE, data);
    await c.flushed();
  }

  /** Arrivals of `item` on host k's current subscription. */
  count(item: string, k: number): number {
    const life = this.subs.get(k)?.life;
    return (this.arrivals.get(item) ?? []).filter((a) => a.k === k && a.life === life).length;
  }

  /** GET /status of host k's node, or null if it does not answer within `timeoutMs`. */
  async status(k: number, timeoutMs = 2000): Promise<NodeStatus | null> {
    const h = this.host(k);
    try {
      const r = await fetch(`http://${h.ctlAddr}:${ADMIN_PORT}/status`, { signal: AbortSignal.timeout(timeoutMs) });
      return r.ok ? ((await r.json()) as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  /** Closes the probe's connections to host k (its node stopped). */
  drop(k: number): void {
    this.subs.get(k)?.client.close();
    this.subs.delete(k);
    this.announcers.get(k)?.close();
    this.announcers.delete(k);
  }

  close(): void {
    for (const k of [...this.subs.keys(), ...this.announcers.keys()]) this.drop(k);
  }
}
