// `gossip run`: run a node until SIGINT/SIGTERM.

import type { Command } from "commander";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { formatAddress } from "../config/address.ts";
import { generateHostkey, loadHostkey, type Hostkey } from "../config/hostkey.ts";
import { ConfigError, defaultConfig, loadConfig } from "../config/load.ts";
import { LOG_LEVELS, type Config, type LogLevel } from "../config/schema.ts";
import { NetError } from "../net/tcp.ts";
import { GossipNode } from "../node/node.ts";
import { claimLegacyState, legacyStatePath, lockState, makeStateDir, readState, StateLockError, statePath } from "../node/state.ts";
import { Logger } from "../util/log.ts";
import { failure, usage, type CliIo } from "./io.ts";

interface RunOptions {
  config?: string;
  logLevel?: string;
}

/** RSA size of the throwaway key used when no hostkey is configured (fast to generate). */
const EPHEMERAL_BITS = 2048;

export function registerRun(program: Command, io: CliIo): void {
  program
    .command("run")
    .description("run a Gossip node; prints `ready api=HOST:PORT p2p=HOST:PORT [advertise=HOST:PORT]` once listening")
    .option("-c, --config <file>", "VoidPhone INI config (default: built-in defaults, first peer on 127.0.0.1:6001/7001)")
    .option("--log-level <level>", `override log_level: ${LOG_LEVELS.join(", ")}`)
    .addHelpText(
      "after",
      [
        "",
        "Logs go to stderr; stdout carries only the ready line. SIGINT/SIGTERM stop the node cleanly.",
        "",
        "Examples:",
        "  $ gossip run                       # first peer on defaults, in-memory hostkey",
        "  $ gossip run -c node1.ini",
        "  $ gossip run -c node2.ini --log-level debug",
      ].join("\n"),
    )
    .action(async (opts: RunOptions) => {
      let config: Config;
      let warnings: string[] = [];
      try {
        if (opts.config === undefined) config = defaultConfig();
        else ({ config, warnings } = await loadConfig(opts.config));
      } catch (e) {
        if (e instanceof ConfigError) throw usage(e.message);
        throw e;
      }
      let level: LogLevel = config.logLevel;
      if (opts.logLevel !== undefined) {
        if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) {
          throw usage(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(opts.logLevel)}`);
        }
        level = opts.logLevel as LogLevel;
      }
      const log = new Logger(level, "gossip", (line) => io.err(line), {}, config.logFormat);
      for (const w of warnings) log.warn(w);
      const unresolved = await unresolvedListener(config);
      if (unresolved !== null) throw failure(unresolved);

      let hostkey: Hostkey;
      if (config.hostkey === null) {
        hostkey = await generateHostkey(EPHEMERAL_BITS);
        log.info("no hostkey configured: using an in-memory key (identity changes on every start)", {
          id: hostkey.idHex,
          bits: EPHEMERAL_BITS,
        });
      } else {
        try {
          hostkey = await loadHostkey(config.hostkey, config.file, (w) => log.warn(w), config.hostkeyLine);
        } catch (e) {
          if (e instanceof ConfigError) throw usage(e.message);
          throw e;
        }
      }

      const cannot = makeStateDir(config);
      if (cannot !== null) throw usage(`${sourceOf(config)} state_dir: ${cannot}`);
      const path = statePath(config);
      let lock: ReturnType<typeof lockState> | null = null;
      if (path !== null) {
        try {
          lock = lockState(path);
        } catch (e) {
          if (e instanceof StateLockError) throw failure(`${sourceOf(config)} state_dir: ${e.message}`);
          throw failure(`${sourceOf(config)} state_dir: cannot lock the state file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
      try {
        if (path !== null) {
          const legacy = claimLegacyState(path, legacyStatePath(config));
          if (legacy !== null) log.info("state file renamed from its old name", { from: legacy, to: path });
        }
        const state = path === null ? undefined : { path, saved: await readState(path, log.child("state")) };
        let node: GossipNode;
        try {
          node = GossipNode.start({ config, hostkey, log, state });
        } catch (e) {
          if (e instanceof NetError) throw failure(listenError(config, e));
          throw e;
        }
        log.info("node started", { id: hostkey.idHex.slice(0, 16), api: node.apiAddress, p2p: node.p2pAddress, admin: node.adminAddress ?? "off", mode: config.dissemination });
        // The listeners' real addresses; what peers are told to dial, when it differs, after them.
        const advertised = config.advertiseAddress ? ` advertise=${node.p2pAddress}` : "";
        io.out(`ready api=${node.apiAddress} p2p=${node.p2pListenAddress}${advertised}`);
        await new Promise<void>((resolve) => {
          if (io.signal.aborted) return resolve();
          io.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        log.info("shutting down", { signal: String(io.signal.reason ?? "abort") });
        await node.leave();
        log.info("stopped");
      } finally {
        // After the last save (leave() saves); a kill -9 leaves it behind, stale for the next start.
        lock?.release();
      }
    });
}

/** The node's listeners by config key (admin_address: null when off). */
function listeners(config: Config) {
  return [
    ["p2p_address", config.p2pAddress],
    ["api_address", config.apiAddress],
    ["admin_address", config.adminAddress],
  ] as const;
}

/** The config's source in messages: `FILE [gossip]`, or the defaults. */
function sourceOf(config: Config): string {
  return config.file === null ? "built-in default (no -c given)" : `${config.file} [gossip]`;
}

/**
 * A listener whose host name does not resolve, named by its key, or null. Checked before the
 * node starts because Bun's listen failure does not say so (Bun.serve even reported it as
 * EADDRINUSE, "Is port 0 in use?").
 */
async function unresolvedListener(config: Config): Promise<string | null> {
  for (const [key, addr] of listeners(config)) {
    if (addr === null || isIP(addr.host) !== 0) continue;
    try {
      await lookup(addr.host);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      return `${sourceOf(config)} ${key}: cannot listen on ${formatAddress(addr)}: host ${JSON.stringify(addr.host)} does not resolve (${why})`;
    }
  }
  return null;
}

/**
 * A listener that could not bind, named by the config key it came from, e.g.
 * `node1.ini [gossip] p2p_address: cannot listen on 127.0.0.1:6001: address already in use (EADDRINUSE)`.
 */
function listenError(config: Config, e: NetError): string {
  const keys = listeners(config)
    .filter(([, addr]) => addr !== null && e.message.startsWith(`cannot listen on ${formatAddress(addr)}:`))
    .map(([key]) => key);
  if (keys.length === 0) return e.message;
  return `${sourceOf(config)} ${keys.join(" / ")}: ${e.message}`;
}
