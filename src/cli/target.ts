// Which node's API a client subcommand talks to: --api wins, then -c's api_address, then the
// built-in default.

import type { Command } from "commander";
import { formatAddress, parseAddress } from "../config/address.ts";
import { ConfigError, defaultConfig, loadConfig } from "../config/load.ts";
import type { Address } from "../config/schema.ts";
import { ApiClient, type Incoming } from "../net/api-client.ts";
import { toHex } from "../wire/bytes.ts";
import { failure, usage } from "./io.ts";

export interface TargetOptions {
  api?: string;
  config?: string;
}

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("--api <host:port>", "API address of the node (default: the config's api_address, else 127.0.0.1:7001)")
    .option("-c, --config <file>", "read api_address from this VoidPhone config");
}

export async function resolveApi(opts: TargetOptions): Promise<Address> {
  if (opts.api !== undefined) {
    try {
      return parseAddress(opts.api);
    } catch (e) {
      throw usage(`--api: ${(e as Error).message}, got ${JSON.stringify(opts.api)}`);
    }
  }
  if (opts.config !== undefined) {
    try {
      return (await loadConfig(opts.config)).config.apiAddress;
    } catch (e) {
      if (e instanceof ConfigError) throw usage(e.message);
      throw e;
    }
  }
  return defaultConfig().apiAddress;
}

export async function connectApi(addr: Address, onFrame?: (f: Incoming) => void): Promise<ApiClient> {
  try {
    return await ApiClient.connect(addr.host, addr.port, { onFrame });
  } catch (e) {
    throw failure(`cannot reach the gossip API at ${formatAddress(addr)}: ${(e as Error).message.replace(/^cannot connect to \S+: /, "")}`);
  }
}

/** One JSON line per frame from Gossip, as `gossip send` prints them. */
export function frameJson(f: Incoming): string {
  if ("raw" in f) return JSON.stringify({ kind: "undecodable", error: f.error, hex: toHex(f.raw) });
  const m = f.msg;
  switch (m.kind) {
    case "notification":
      return JSON.stringify({ kind: m.kind, id: m.id, type: m.dataType, data: toHex(m.data) });
    case "announce":
      return JSON.stringify({ kind: m.kind, ttl: m.ttl, type: m.dataType, data: toHex(m.data) });
    case "notify":
      return JSON.stringify({ kind: m.kind, type: m.dataType });
    case "validation":
      return JSON.stringify({ kind: m.kind, id: m.id, valid: m.valid });
  }
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
