// `gossip status`: a running node's neighbours and counters, read from its admin listener
// (GET /status). --admin wins, then -c's admin_address; there is no default, since the
// listener is off unless configured.

import type { Command } from "commander";
import { formatAddress, parseAddress } from "../config/address.ts";
import { ConfigError, loadConfig } from "../config/load.ts";
import type { Address } from "../config/schema.ts";
import type { NodeStatus } from "../node/admin.ts";
import { failure, interrupted, usage, type CliIo } from "./io.ts";

interface StatusOptions {
  admin?: string;
  config?: string;
  json?: boolean;
}

const TIMEOUT_MS = 5000;
/** A node's status is a few KiB per neighbour; a body past this is not one (or never ends). */
const MAX_BODY_BYTES = 16 << 20;

class BodyTooLarge extends Error {}

/** The body as UTF-8, read until `max` bytes or until `signal` aborts (both throw, and cancel the stream). */
async function readBody(res: Response, max: number, signal: AbortSignal): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason ?? new Error("aborted"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  aborted.catch(() => {});
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) break;
      size += value.length;
      if (size > max) throw new BodyTooLarge();
      parts.push(value);
    }
  } catch (e) {
    void reader.cancel().catch(() => {});
    throw e;
  }
  return new TextDecoder().decode(Buffer.concat(parts));
}

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command("status")
    .description("show a running node's neighbours and counters (from its admin_address listener)")
    .option("--admin <host:port>", "admin address of the node")
    .option("-c, --config <file>", "read admin_address from this VoidPhone config")
    .option("--json", "print the raw JSON of GET /status")
    .addHelpText(
      "after",
      "\nThe node must have admin_address set in [gossip].\n\nExamples:\n  $ gossip status -c node1.ini\n  $ gossip status --admin 127.0.0.1:9001 --json",
    )
    .action(async (opts: StatusOptions) => {
      const addr = await resolveAdmin(opts);
      const url = `http://${formatAddress(addr)}/status`;
      // One deadline for the whole exchange: connecting, the headers and the body.
      const deadline = AbortSignal.timeout(TIMEOUT_MS);
      const signal = AbortSignal.any([deadline, io.signal]);
      let res: Response;
      try {
        res = await fetch(url, { signal });
      } catch (e) {
        if (io.signal.aborted) throw interrupted(`interrupted while waiting for ${url}`);
        throw failure(`cannot reach the gossip admin listener at ${formatAddress(addr)}: ${(e as Error).message}`);
      }
      if (!res.ok) {
        void res.body?.cancel().catch(() => {});
        throw failure(`${url}: HTTP ${res.status} (is ${formatAddress(addr)} a gossip admin_address?)`);
      }
      let text: string;
      try {
        text = await readBody(res, MAX_BODY_BYTES, signal);
      } catch (e) {
        if (io.signal.aborted) throw interrupted(`interrupted while waiting for ${url}`);
        if (deadline.aborted) throw failure(`${url}: no complete answer within ${TIMEOUT_MS / 1000} s`);
        if (e instanceof BodyTooLarge) throw failure(`${url}: answer larger than ${MAX_BODY_BYTES >> 20} MiB (is ${formatAddress(addr)} a gossip admin_address?)`);
        throw failure(`${url}: cannot read the answer: ${(e as Error)?.message || String(e)}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw failure(`${url}: not JSON (is ${formatAddress(addr)} a gossip admin_address?)`);
      }
      // Checked for --json too: a script must not take another server's 200 for a node's status.
      const problem = statusProblem(json);
      if (problem !== null) throw failure(`${url}: not a gossip status: ${problem} (is ${formatAddress(addr)} a gossip admin_address?)`);
      const status = json as NodeStatus;
      if (opts.json) io.out(text);
      else for (const line of formatStatus(status)) io.out(line);
    });
}

async function resolveAdmin(opts: StatusOptions): Promise<Address> {
  if (opts.admin !== undefined) {
    try {
      return parseAddress(opts.admin);
    } catch (e) {
      throw usage(`--admin: ${(e as Error).message}, got ${JSON.stringify(opts.admin)}`);
    }
  }
  if (opts.config === undefined) throw usage("no admin address: give --admin HOST:PORT or -c FILE (with admin_address set in [gossip])");
  let admin: Address | null;
  try {
    admin = (await loadConfig(opts.config)).config.adminAddress;
  } catch (e) {
    if (e instanceof ConfigError) throw usage(e.message);
    throw e;
  }
  if (admin === null) throw usage(`${opts.config} [gossip] admin_address is not set: the node has no admin listener (set it, e.g. admin_address = 127.0.0.1:9001, and restart the node)`);
  if (admin.port === 0) throw usage(`${opts.config} [gossip] admin_address has port 0: the bound port is only known to the node (give --admin HOST:PORT)`);
  return admin;
}

type Shape = "string" | "number" | { readonly [field: string]: Shape } | { readonly each: Shape } | { readonly values: Shape };

const NEIGHBOUR_SHAPE: Shape = { address: "string", id: "string", direction: "string", ageMs: "number", mode: "string", queuedBytes: "number" };
/** What formatStatus reads of a NodeStatus; other fields may come and go between versions. */
const STATUS_SHAPE: Shape = {
  id: "string",
  p2pAddress: "string",
  apiAddress: "string",
  uptimeS: "number",
  neighbours: { each: NEIGHBOUR_SHAPE },
  passiveViewSize: "number",
  apiConnections: "number",
  apiSubscriptions: "number",
  counters: {
    itemsAnnounced: "number",
    itemsReceived: "number",
    itemsDuplicate: "number",
    itemsDelivered: "number",
    itemsForwarded: "number",
    itemsDropped: { values: "number" },
    bans: "number",
  },
};

/** Why `v` is not a gossip status (the first field that is missing or of the wrong type), or null. */
export function statusProblem(v: unknown, shape: Shape = STATUS_SHAPE, path = ""): string | null {
  const at = path === "" ? "the body" : path;
  const describe = (x: unknown) => (x === null ? "null" : Array.isArray(x) ? "an array" : typeof x === "object" ? "an object" : JSON.stringify(x));
  if (typeof shape === "string") {
    const ok = shape === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === shape;
    return ok ? null : `${at}: expected a ${shape}, got ${describe(v)}`;
  }
  if ("each" in shape) {
    if (!Array.isArray(v)) return `${at}: expected an array, got ${describe(v)}`;
    for (const [i, x] of v.entries()) {
      const p = statusProblem(x, shape.each as Shape, `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `${at}: expected an object, got ${describe(v)}`;
  const obj = v as Record<string, unknown>;
  if ("values" in shape) {
    for (const [k, x] of Object.entries(obj)) {
      const p = statusProblem(x, shape.values as Shape, `${path}.${k}`);
      if (p !== null) return p;
    }
    return null;
  }
  for (const [k, s] of Object.entries(shape)) {
    const p = statusProblem(obj[k], s, path === "" ? k : `${path}.${k}`);
    if (p !== null) return p;
  }
  return null;
}

/** A short table for humans. */
export function formatStatus(s: NodeStatus): string[] {
  const c = s.counters;
  const dropped = Object.entries(c.itemsDropped)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const lines = [
    `id        ${s.id}`,
    `p2p       ${s.p2pAddress}`,
    `api       ${s.apiAddress} (${s.apiConnections} connections, ${s.apiSubscriptions} subscriptions)`,
    `uptime    ${s.uptimeS} s`,
    `views     ${s.neighbours.length} neighbours, ${s.passiveViewSize} passive`,
    `items     announced ${c.itemsAnnounced}, received ${c.itemsReceived}, duplicate ${c.itemsDuplicate}, delivered ${c.itemsDelivered}, forwarded ${c.itemsForwarded}`,
    `dropped   ${dropped}`,
    `bans      ${c.bans}`,
  ];
  if (s.neighbours.length === 0) return [...lines, "", "no neighbours"];
  const rows = [
    ["NEIGHBOUR", "ID", "DIR", "AGE", "MODE", "QUEUED"],
    ...s.neighbours.map((n) => [n.address, n.id.slice(0, 16), n.direction, `${(n.ageMs / 1000).toFixed(1)} s`, n.mode, `${n.queuedBytes} B`]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [...lines, "", ...rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())];
}
