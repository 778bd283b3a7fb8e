// What a test bed is made of, before anything exists: host addresses, namespace and
// interface names, and each node's config. Pure: no processes, no files.

import { nodeIni } from "../../src/config/generate.ts";

/** The most hosts a bed takes: the control /30s are 10.254.K.0/30, K = 1..250. */
export const MAX_HOSTS = 250;

export const P2P_PORT = 6001;
export const API_PORT = 7001;
export const ADMIN_PORT = 9001;

export interface HostPlan {
  /** 1-based; host 1 is the first peer (no bootstrapper), every other one bootstraps from it. */
  readonly k: number;
  /** Namespace name: `<run prefix>-h<k>`. */
  readonly ns: string;
  /** The host's address on the routed network (its TUN), where its node listens for peers. */
  readonly addr: string;
  /** The TUN's name; the router creates it in the control namespace, the bed moves it here. */
  readonly tun: string;
  /** The host's end of its control link (API and admin listen here) and the control end. */
  readonly ctlAddr: string;
  readonly ctlPeer: string;
  /** The veth names: `ctl0` in the host namespace, `c<k>` in the control namespace. */
  readonly ctlIf: string;
  readonly ctlPeerIf: string;
}

/**
 * Hosts 1..n filled into /24s `perSubnet` at a time: 10.1.1.1, 10.1.1.2, ..., then 10.1.2.1, ...
 * (perSubnet >= n: all in 10.1.1.0/24).
 */
export function planHosts(prefix: string, n: number, perSubnet: number): HostPlan[] {
  if (!Number.isInteger(n) || n < 2 || n > MAX_HOSTS) throw new RangeError(`hosts: expected 2-${MAX_HOSTS}, got ${n}`);
  if (!Number.isInteger(perSubnet) || perSubnet < 1) throw new RangeError(`hosts per /24: expected at least 1, got ${perSubnet}`);
  return Array.from({ length: n }, (_, i) => {
    const k = i + 1;
    const addr = `10.1.${Math.floor(i / perSubnet) + 1}.${(i % perSubnet) + 1}`;
    return {
      k,
      ns: `${prefix}-h${k}`,
      addr,
      tun: `tun${k}`,
      ctlAddr: `10.254.${k}.2`,
      ctlPeer: `10.254.${k}.1`,
      ctlIf: "ctl0",
      ctlPeerIf: `c${k}`,
    };
  });
}

/** The /24 a host is in, e.g. "10.1.2": for messages and partitions. */
export function subnetOf(addr: string): string {
  return addr.split(".").slice(0, 3).join(".");
}

/**
 * Timing keys the bed shortens so that a run takes minutes, not hours (documented in
 * docs/TESTBED.md). Security keys (pow_bits, max_conns_per_ip, view_prefix_limit, rate limits,
 * ban_*) stay at their shipped defaults.
 */
export const BED_TIMERS: Readonly<Record<string, string>> = {
  // A silent link is dropped after 3 intervals: 6 s instead of 15 s.
  keepalive_ms: "2000",
  // Passive views refresh every 2 s instead of 10 s.
  shuffle_interval_ms: "2000",
  // Split overlays look for each other every ~5 s instead of every minute.
  refresh_interval_ms: "5000",
};

export interface NodeConfigOptions {
  readonly host: HostPlan;
  readonly bootstrapper: HostPlan | null;
  readonly hostkeyPath: string;
  readonly logLevel: string;
  /** Extra [gossip] keys (--set), over BED_TIMERS. */
  readonly extra: Readonly<Record<string, string>>;
}

export function nodeConfig(o: NodeConfigOptions): string {
  return nodeIni({
    hostkey: o.hostkeyPath,
    p2p: `${o.host.addr}:${P2P_PORT}`,
    api: `${o.host.ctlAddr}:${API_PORT}`,
    ...(o.bootstrapper === null ? {} : { bootstrapper: `${o.bootstrapper.addr}:${P2P_PORT}` }),
    extra: { admin_address: `${o.host.ctlAddr}:${ADMIN_PORT}`, log_level: o.logLevel, ...BED_TIMERS, ...o.extra },
  });
}
