// The test bed's router: one TUN device per host, every IPv4 packet a host sends is written to
// the destination host's TUN after a delay (a base per host pair plus jitter). It runs as its
// own process in the bed's control namespace; the bed moves each TUN into its host's
// namespace (the fd stays valid) and gives it the host's address and a default route.
//
//   bun scripts/netbed/router.ts '<RouterSpec as JSON>'
//
// Prints one JSON line `{"ready":true}` once every TUN is open. Reads commands on stdin:
// `stats` prints the counters as a JSON line; end of input (the bed went away) exits.
// Loss and partitions are not done here: iptables in the host namespaces drops packets.
//
// The loop is synchronous (poll, read, write through bun:ffi), so the event loop never runs:
// output goes through write(2) and SIGTERM ends the process with its default action (the
// TUNs are not persistent: the kernel removes them with the last fd).

import { DelayLine } from "./delay.ts";
import { EAGAIN, openTun, PollSet, readFd, writeFd } from "./libc.ts";

export interface RouterSpec {
  /** TUN name and IPv4 address per host, in host order. */
  readonly hosts: ReadonlyArray<{ readonly tun: string; readonly addr: string }>;
  /** One-way delay of a host pair drawn once from [minMs, maxMs]; each packet adds 0..jitterMs. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly jitterMs: number;
  readonly seed: number;
}

export interface RouterStats {
  forwarded: number;
  bytes: number;
  /** Not IPv4, or to an address no host has. */
  unroutable: number;
  /** The destination TUN's queue was full. */
  overflow: number;
  queued: number;
}

function out(line: string): void {
  writeFd(1, Buffer.from(`${line}\n`));
}

function run(spec: RouterSpec): never {
  const n = spec.hosts.length;
  const fds = spec.hosts.map((h) => openTun(h.tun));
  const line = new DelayLine({ ...spec, addrs: spec.hosts.map((h) => h.addr) });
  const stats: RouterStats = { forwarded: 0, bytes: 0, unroutable: 0, overflow: 0, queued: 0 };
  const poll = new PollSet([...fds, 0]);
  const buf = new Uint8Array(65536);
  const input = new Uint8Array(256);
  let command = "";
  out(JSON.stringify({ ready: true, tuns: spec.hosts.map((h) => h.tun) }));

  for (;;) {
    let now = performance.now();
    for (let p = line.popDue(now); p !== undefined; p = line.popDue(now)) {
      const w = writeFd(fds[p.dst]!, p.bytes);
      if (w === -EAGAIN) stats.overflow++;
      else if (w > 0) {
        stats.forwarded++;
        stats.bytes += w;
      }
    }
    const next = line.nextDue;
    const timeout = next === undefined ? 1000 : Math.max(0, Math.ceil(next - now));
    for (const i of poll.wait(timeout)) {
      if (i === n) {
        const got = readFd(0, input);
        if (got === 0) process.exit(0);
        if (got < 0) continue;
        command += Buffer.from(input.subarray(0, got)).toString();
        let nl: number;
        while ((nl = command.indexOf("\n")) >= 0) {
          const cmd = command.slice(0, nl).trim();
          command = command.slice(nl + 1);
          if (cmd === "stats") out(JSON.stringify({ ...stats, queued: line.size }));
        }
        continue;
      }
      now = performance.now();
      // Drain the device: a burst of packets goes into the queue at once.
      for (;;) {
        const got = readFd(fds[i]!, buf);
        if (got <= 0) break;
        if (!line.push(i, buf.subarray(0, got), now)) stats.unroutable++;
      }
    }
  }
}

if (import.meta.main) {
  const text = process.argv[2];
  if (text === undefined) {
    console.error("usage: bun scripts/netbed/router.ts '<RouterSpec as JSON>'");
    process.exit(2);
  }
  try {
    run(JSON.parse(text) as RouterSpec);
  } catch (e) {
    console.error(`router: ${(e as Error).message}`);
    process.exit(1);
  }
}
