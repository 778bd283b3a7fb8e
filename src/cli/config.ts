// `gossip config keygen|node|network|check`: make and check the shared VoidPhone INI files.
// Bad options or configs, and output files that exist without --force, are usage errors
// (exit 2); failing file I/O is a failure (exit 1).

import type { Command } from "commander";
import { resolve } from "node:path";
import { formatAddress } from "../config/address.ts";
import {
  adminPortsClash,
  API_PORT_OFFSET,
  checkWritable,
  InterruptedError,
  nodeIni,
  NotADirectoryError,
  PER_NODE_KEYS,
  untilAborted,
  writeNetwork,
  writeNewFile,
} from "../config/generate.ts";
import {
  DEFAULT_HOSTKEY_BITS,
  DEFAULT_HOSTKEY_FORMAT,
  generateHostkeyPem,
  HOSTKEY_FORMATS,
  hostkeyFromPem,
  loadHostkey,
  type HostkeyFormat,
} from "../config/hostkey.ts";
import { ConfigError, loadConfig, osReason, parseConfig } from "../config/load.ts";
import { GOSSIP_KEYS } from "../config/schema.ts";
import { failure, interrupted, intOption, usage, type CliIo } from "./io.ts";

const MIN_BITS = 1024;
const MAX_BITS = 16384;

/** [gossip] keys that have their own option in `config node`; --set may not touch them. */
const ADDRESS_OPTIONS: Readonly<Record<string, string>> = {
  p2p_address: "--p2p",
  api_address: "--api",
  bootstrapper: "--bootstrapper",
};
const NODE_SET_REFUSED: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ADDRESS_OPTIONS).map(([key, option]) => [key, `use ${option} instead`]),
);

/**
 * Why `config network --set` refuses each of PER_NODE_KEYS: one value copied into every node
 * would make node 2 fail to bind (or all nodes claim one address), so say what network offers.
 */
const NETWORK_SET_REFUSED: Readonly<Record<(typeof PER_NODE_KEYS)[number], string>> = {
  p2p_address: `differs per node (node k: 127.0.0.1:<base+k-1>); use --base-port`,
  api_address: `differs per node (node k: 127.0.0.1:<base+${API_PORT_OFFSET}+k-1>); use --base-port`,
  bootstrapper: "node1 is the bootstrapper of every other node; for other bootstrappers write each config with gossip config node --bootstrapper",
  admin_address: "differs per node; use --admin-base-port (node k: 127.0.0.1:<admin-base+k-1>)",
  advertise_address:
    "differs per node (network nodes are dialed at their p2p_address); to set it, write each config with gossip config node --set advertise_address=HOST:PORT",
};

// No default array for --set: commander would print "(default: [])" in the help.
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function registerConfig(program: Command, io: CliIo): void {
  const config = program
    .command("config")
    .description("create and check configuration files and hostkeys")
    .addHelpText("after", "\nRun `gossip config <command> --help` for the options of each command.");
  registerKeygen(config, io);
  registerNode(config, io);
  registerNetwork(config, io);
  registerCheck(config, io);
}

const FORMAT_HELP = "PEM encoding: pkcs1 (BEGIN RSA PRIVATE KEY, what the VoidPhone course's module tools read) or pkcs8 (BEGIN PRIVATE KEY)";

function formatOption(text: string): HostkeyFormat {
  if (!(HOSTKEY_FORMATS as readonly string[]).includes(text)) {
    throw usage(`--format: expected one of ${HOSTKEY_FORMATS.join(", ")}, got ${JSON.stringify(text)}`);
  }
  return text as HostkeyFormat;
}

function registerKeygen(config: Command, io: CliIo): void {
  config
    .command("keygen")
    .description("generate an RSA hostkey (PEM, mode 0600) and print its identity")
    .requiredOption("--out <file>", "where to write the key")
    .option("--bits <n>", `RSA modulus size in bits, ${MIN_BITS}-${MAX_BITS}`, String(DEFAULT_HOSTKEY_BITS))
    .option("--format <f>", FORMAT_HELP, DEFAULT_HOSTKEY_FORMAT)
    .option("--force", "overwrite an existing file")
    .addHelpText(
      "after",
      [
        "",
        "Prints one line: id=<SHA-256 of the public key, hex> file=<path>",
        "",
        "Examples:",
        "  $ gossip config keygen --out hostkey.pem",
        "  $ gossip config keygen --out /tmp/test.pem --bits 1024 --force",
        "  $ gossip config keygen --out hostkey.pem --format pkcs8",
      ].join("\n"),
    )
    .action(async (opts: { out: string; bits: string; format: string; force?: boolean }) => {
      const bits = intOption("--bits", opts.bits, MIN_BITS, MAX_BITS);
      const format = formatOption(opts.format);
      // Before the key, which takes seconds at 8192 bits: a refusal must not come after the wait.
      await writableOrFail(opts.out, opts.force ?? false);
      let pem: string;
      try {
        pem = await untilAborted(generateHostkeyPem(bits, format), io.signal);
      } catch (e) {
        if (e instanceof InterruptedError) throw interrupted(`interrupted: ${opts.out} not written`);
        throw e;
      }
      await writeOrFail(opts.out, pem, opts.force ?? false, 0o600);
      io.out(`id=${hostkeyFromPem(pem).idHex} file=${opts.out}`);
    });
}

interface NodeOptions {
  p2p: string;
  api: string;
  bootstrapper?: string;
  hostkey?: string;
  set?: string[];
  out?: string;
  force?: boolean;
}

function registerNode(config: Command, io: CliIo): void {
  config
    .command("node")
    .description("print (or write) a commented config for one node")
    .option("--p2p <host:port>", "p2p_address: where Gossip listens for peers", "127.0.0.1:6001")
    .option("--api <host:port>", "api_address: where Gossip listens for local modules", "127.0.0.1:7001")
    .option("--bootstrapper <host:port>", "peer to join through (omit on the first peer)")
    .option("--hostkey <path>", "PEM RSA key; written as an absolute path, so every module finds it (omit: in-memory key)")
    .option("--set <key=value>", "any other [gossip] key; repeatable", collect)
    .option("--out <file>", "write the config here instead of stdout")
    .option("--force", "overwrite an existing --out file")
    .addHelpText(
      "after",
      [
        "",
        "Keys for --set:",
        ...wrap(GOSSIP_KEYS.filter((k) => !(k.key in ADDRESS_OPTIONS)).map((k) => k.key), 90),
        "",
        "Examples:",
        "  $ gossip config node --hostkey node2.pem --p2p 127.0.0.1:6002 --api 127.0.0.1:7002 \\",
        "      --bootstrapper 127.0.0.1:6001 --set degree=8 --out node2.ini",
        "  $ gossip config node --p2p '[::1]:6001' --api '[::1]:7001' --set log_level=debug",
      ].join("\n"),
    )
    .action(async (opts: NodeOptions) => {
      if (opts.hostkey !== undefined && opts.hostkey.trim() === "") throw usage(`--hostkey: expected a path, got ""`);
      const extra = parseSets(opts.set ?? [], NODE_SET_REFUSED);
      const text = buildIni(() =>
        nodeIni({
          p2p: opts.p2p,
          api: opts.api,
          ...(opts.bootstrapper === undefined ? {} : { bootstrapper: opts.bootstrapper }),
          // Absolute: other modules sharing the file open the path from their own working directory.
          ...(opts.hostkey === undefined ? {} : { hostkey: resolve(opts.hostkey) }),
          extra,
        }),
      );
      // The text we print is checked by the same parser that will read it.
      await asUsage(() => parseConfig(text, opts.out ?? null), {
        ...ADDRESS_OPTIONS,
        hostkey: "--hostkey",
        ...setOptions(extra),
      });
      if (opts.out === undefined) {
        for (const line of text.replace(/\n$/, "").split("\n")) io.out(line);
        return;
      }
      await writeOrFail(opts.out, text, opts.force ?? false);
      io.out(`config=${opts.out}`);
    });
}

function registerNetwork(config: Command, io: CliIo): void {
  config
    .command("network")
    .description("write configs and hostkeys for a local test network of N nodes")
    .requiredOption("--nodes <n>", `number of nodes, 1-${API_PORT_OFFSET}`)
    .requiredOption("--dir <dir>", "directory for node<k>.ini and node<k>.pem (created if missing)")
    .option("--base-port <p>", `p2p port of node1; api ports start at base+${API_PORT_OFFSET}`, "6001")
    .option("--admin-base-port <p>", "admin_address port of node1 (node k: p+k-1); omit: no admin listener")
    .option("--bits <n>", `RSA modulus size in bits, ${MIN_BITS}-${MAX_BITS}`, String(DEFAULT_HOSTKEY_BITS))
    .option("--format <f>", FORMAT_HELP, DEFAULT_HOSTKEY_FORMAT)
    .option("--set <key=value>", "another [gossip] key for every node (not the addresses, which differ per node); repeatable", collect)
    .option("--force", "overwrite existing files")
    .addHelpText(
      "after",
      [
        "",
        "node<k> listens on p2p 127.0.0.1:<base+k-1> and api 127.0.0.1:<base+1000+k-1> (and admin",
        "127.0.0.1:<admin-base+k-1> with --admin-base-port); node1 is the bootstrapper of all others;",
        "degree is lowered to nodes-1 when the network is that small. --set refuses the keys that",
        `differ per node (${PER_NODE_KEYS.join(", ")}); state_dir may be shared (state files are`,
        "named after their config). Configs name their hostkey by absolute path (other modules open",
        "it from their own directory).",
        "Prints one line per node: node<k> p2p=HOST:PORT api=HOST:PORT [admin=HOST:PORT] config=PATH",
        "",
        "Examples:",
        "  $ gossip config network --nodes 5 --dir ./net",
        "  $ gossip config network --nodes 20 --dir /tmp/net --base-port 16001 --bits 1024 --set pow_bits=4",
        "  $ gossip config network --nodes 3 --dir ./net --admin-base-port 9001",
      ].join("\n"),
    )
    .action(
      async (opts: NetworkCliOptions) => {
        const nodes = intOption("--nodes", opts.nodes, 1, API_PORT_OFFSET);
        const basePort = intOption("--base-port", opts.basePort, 1, 65535 - API_PORT_OFFSET - (nodes - 1));
        const adminBasePort = opts.adminBasePort === undefined ? undefined : intOption("--admin-base-port", opts.adminBasePort, 1, 65535 - (nodes - 1));
        const clash = adminBasePort === undefined ? null : adminPortsClash(adminBasePort, nodes, basePort);
        if (clash !== null) throw usage(`--admin-base-port: ${clash}`);
        const bits = intOption("--bits", opts.bits, MIN_BITS, MAX_BITS);
        const format = formatOption(opts.format);
        const extra = parseSets(opts.set ?? [], NETWORK_SET_REFUSED);
        const written = await asUsage(async () => {
          try {
            return await writeNetwork({
              nodes,
              dir: opts.dir,
              basePort,
              ...(adminBasePort === undefined ? {} : { adminBasePort }),
              bits,
              format,
              extra,
              force: opts.force ?? false,
              signal: io.signal,
            });
          } catch (e) {
            if (e instanceof ConfigError) throw e;
            if (e instanceof InterruptedError) throw interrupted(`interrupted while generating keys: nothing written into ${opts.dir}`);
            if (e instanceof NotADirectoryError) throw usage(`--dir: ${e.message}; give a directory (created if missing)`);
            if ((e as NodeJS.ErrnoException).code === "EEXIST") throw usage((e as Error).message);
            throw failure(`cannot write the network into ${opts.dir}: ${osReason(e)}`);
          }
        }, setOptions(extra));
        for (const n of written) io.out(`${n.name} p2p=${n.p2p} api=${n.api}${n.admin === null ? "" : ` admin=${n.admin}`} config=${n.configPath}`);
      },
    );
}

function registerCheck(config: Command, io: CliIo): void {
  config
    .command("check")
    .description("load and validate a config file and its hostkey")
    .requiredOption("-c, --config <file>", "the INI file to check")
    .addHelpText(
      "after",
      [
        "",
        "Warnings (unknown [gossip] keys, a hostkey others may read) go to stderr. On success prints one line:",
        "  ok id=<hex, or in-memory without hostkey> p2p=HOST:PORT api=HOST:PORT",
        "Exit status 2 if the config or hostkey is invalid.",
        "",
        "Example:",
        "  $ gossip config check -c net/node1.ini",
      ].join("\n"),
    )
    .action(async (opts: { config: string }) => {
      const { config, warnings } = await asUsage(() => loadConfig(opts.config));
      const warn = (w: string) => io.err(`gossip: warning: ${w}`);
      warnings.forEach(warn);
      const id =
        config.hostkey === null ? "in-memory" : (await asUsage(() => loadHostkey(config.hostkey ?? "", opts.config, warn, config.hostkeyLine))).idHex;
      io.out(`ok id=${id} p2p=${formatAddress(config.p2pAddress)} api=${formatAddress(config.apiAddress)}`);
    });
}

interface NetworkCliOptions {
  nodes: string;
  dir: string;
  basePort: string;
  adminBasePort?: string;
  bits: string;
  format: string;
  set?: string[];
  force?: boolean;
}

/** `--set key=value` pairs; keys must be [gossip] keys, and not one of `refused` (key: why). */
function parseSets(sets: readonly string[], refused: Readonly<Record<string, string>>): Record<string, string> {
  const extra: Record<string, string> = {};
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw usage(`--set: expected key=value, got ${JSON.stringify(s)}`);
    const key = s.slice(0, eq).trim();
    const why = refused[key];
    if (why !== undefined) throw usage(`--set ${key}: ${why}`);
    if (!GOSSIP_KEYS.some((k) => k.key === key)) {
      throw usage(`--set: unknown [gossip] key ${JSON.stringify(key)} (see gossip config node --help)`);
    }
    extra[key] = s.slice(eq + 1).trim();
  }
  return extra;
}

function buildIni(build: () => string): string {
  try {
    return build();
  } catch (e) {
    throw usage((e as Error).message);
  }
}

function wrap(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = " ";
  for (const w of words) {
    if (line.length + w.length + 2 > width) {
      lines.push(line);
      line = " ";
    }
    line += ` ${w}`;
  }
  return [...lines, line];
}

function setOptions(extra: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, `--set ${k}=${v}`]));
}

/**
 * Runs a config step; a ConfigError becomes a usage error. `options` maps [gossip] keys to the
 * option that supplied them, so errors in generated configs name what the user typed.
 */
async function asUsage<T>(step: () => T | Promise<T>, options: Readonly<Record<string, string>> = {}): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const option = e.key === null ? undefined : options[e.key];
    throw usage(option === undefined ? e.message : `${option}: ${e.detail}`);
  }
}

async function writeOrFail(path: string, text: string, force: boolean, mode?: number): Promise<void> {
  await orFail(path, () => writeNewFile(path, text, { force, ...(mode === undefined ? {} : { mode }) }));
}

/** The errors writeOrFail would end with, before any slow work. */
async function writableOrFail(path: string, force: boolean): Promise<void> {
  await orFail(path, () => checkWritable(path, force));
}

async function orFail(path: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw usage((e as Error).message);
    throw failure(`cannot write ${path}: ${osReason(e)}`);
  }
}
