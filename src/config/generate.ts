// Config files for humans and for local test networks. nodeIni is pure; writeNetwork writes a
// directory of configs and hostkeys. Configs name their hostkey by absolute path: the INI is
// shared by every module of a peer, and other modules open a relative path from their own
// working directory, not from the config file's (gossip itself would read either).

import { constants, rmSync } from "node:fs";
import { access, chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { generateHostkeyPem, hostkeyFromPem, DEFAULT_HOSTKEY_BITS, type HostkeyFormat } from "./hostkey.ts";
import { parseConfig } from "./load.ts";
import { GOSSIP_KEYS, type KeySpec } from "./schema.ts";

export interface NodeIniOptions {
  /** Written as given: relative paths are resolved against the config file's directory. */
  readonly hostkey?: string;
  readonly p2p: string;
  readonly api: string;
  readonly bootstrapper?: string;
  readonly degree?: number;
  readonly cacheSize?: number;
  /** More [gossip] keys, written as given; they win over the options above. */
  readonly extra?: Readonly<Record<string, string>>;
}

/** A commented INI: global hostkey, then [gossip] with spec keys, then our own keys. */
export function nodeIni(o: NodeIniOptions): string {
  const values = new Map<string, string>([
    ["cache_size", String(o.cacheSize ?? defaultOf("cache_size"))],
    ["degree", String(o.degree ?? defaultOf("degree"))],
    ["p2p_address", o.p2p],
    ["api_address", o.api],
  ]);
  if (o.bootstrapper !== undefined) values.set("bootstrapper", o.bootstrapper);
  for (const [k, v] of Object.entries(o.extra ?? {})) values.set(k, v);

  const lines = [
    "; VoidPhone configuration, shared by all modules. Gossip reads the global hostkey and [gossip].",
    "",
    "; the peer's RSA key (PEM); identity = SHA-256 of its public key",
    o.hostkey === undefined
      ? "; hostkey = PATH    (absent: an in-memory key, i.e. a new identity on every start)"
      : entry("hostkey", o.hostkey),
    "",
    "[gossip]",
  ];
  const spec = GOSSIP_KEYS.filter((s) => s.spec);
  const own = GOSSIP_KEYS.filter((s) => !s.spec);
  for (const s of spec) lines.push(...documented(s, values.get(s.key)));
  lines.push("", "; Our own keys (see README); commented out ones are at their default.");
  for (const s of own) lines.push(...documented(s, values.get(s.key)));
  const unknown = [...values.keys()].filter((k) => !GOSSIP_KEYS.some((s) => s.key === k));
  if (unknown.length > 0) {
    lines.push("", "; Not known to this version of gossip (it warns about them and ignores them).");
    for (const k of unknown) lines.push(entry(k, values.get(k) ?? ""));
  }
  return `${lines.join("\n")}\n`;
}

export interface NetworkOptions {
  readonly nodes: number;
  readonly dir: string;
  /** p2p ports are basePort.., api ports basePort+1000.. */
  readonly basePort?: number;
  readonly bits?: number;
  /** PEM encoding of the generated keys (default: DEFAULT_HOSTKEY_FORMAT). */
  readonly format?: HostkeyFormat;
  /** admin_address of node k: 127.0.0.1:adminBasePort+k-1; absent: no admin listener. */
  readonly adminBasePort?: number;
  /** More [gossip] keys for every node; not the PER_NODE_KEYS. */
  readonly extra?: Readonly<Record<string, string>>;
  readonly force?: boolean;
  /** Aborting it while keys are generated stops with InterruptedError, having written nothing. */
  readonly signal?: AbortSignal;
}

/**
 * Keys whose value must differ between the nodes of one host (listeners, what peers dial) or
 * that writeNetwork sets per node: one value copied into every config would break the network.
 * (state_dir may be shared: each node's state file is named after its config.)
 */
export const PER_NODE_KEYS = ["p2p_address", "api_address", "bootstrapper", "admin_address", "advertise_address"] as const;

export interface NetworkNode {
  readonly name: string;
  readonly p2p: string;
  readonly api: string;
  readonly admin: string | null;
  readonly configPath: string;
  readonly hostkeyPath: string;
  readonly idHex: string;
}

/** api ports sit this far above p2p ports, so at most this many nodes fit without overlap. */
export const API_PORT_OFFSET = 1000;

/**
 * Writes DIR/node{k}.ini and DIR/node{k}.pem for k = 1..nodes; node 1 is the bootstrapper of
 * the others. Validates every config (ConfigError) and refuses existing files (unless force)
 * before spending time on keys.
 */
export async function writeNetwork(o: NetworkOptions): Promise<NetworkNode[]> {
  const basePort = o.basePort ?? 6001;
  const maxPort = basePort + API_PORT_OFFSET + o.nodes - 1;
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > API_PORT_OFFSET) {
    throw new RangeError(`nodes must be 1-${API_PORT_OFFSET}, got ${o.nodes}`);
  }
  if (!Number.isInteger(basePort) || basePort < 1 || maxPort > 65535) {
    throw new RangeError(`base port must leave room for ${o.nodes} p2p and api ports, got ${basePort}`);
  }
  const adminBase = o.adminBasePort;
  if (adminBase !== undefined) {
    const clash = adminPortsClash(adminBase, o.nodes, basePort);
    if (clash !== null) throw new RangeError(`admin base port ${adminBase}: ${clash}`);
  }
  for (const key of PER_NODE_KEYS) {
    if (o.extra?.[key] !== undefined) throw new RangeError(`${key} differs per node; it cannot be one extra key for every node`);
  }
  // A network smaller than the default degree cannot fill it; ask only for what exists.
  const degree = Math.max(1, Math.min(Number(defaultOf("degree")), o.nodes - 1));
  const plan = Array.from({ length: o.nodes }, (_, i) => {
    const name = `node${i + 1}`;
    const p2p = `127.0.0.1:${basePort + i}`;
    const api = `127.0.0.1:${basePort + API_PORT_OFFSET + i}`;
    const admin = adminBase === undefined ? null : `127.0.0.1:${adminBase + i}`;
    const configPath = join(o.dir, `${name}.ini`);
    const text = nodeIni({
      hostkey: resolve(o.dir, `${name}.pem`),
      p2p,
      api,
      ...(i === 0 ? {} : { bootstrapper: `127.0.0.1:${basePort}` }),
      degree,
      // Every peer of a local network shares 127.0.0.1: the per-address limits meant
      // against one host posing as many peers would cut it apart.
      extra: { max_conns_per_ip: "0", view_prefix_limit: "0", ...o.extra, ...(admin === null ? {} : { admin_address: admin }) },
    });
    parseConfig(text, configPath);
    return { name, p2p, api, admin, configPath, hostkeyPath: join(o.dir, `${name}.pem`), text };
  });
  const found = await stat(o.dir).catch(() => null);
  if (found !== null && !found.isDirectory()) throw new NotADirectoryError(o.dir);
  if (!o.force) {
    for (const n of plan) for (const p of [n.configPath, n.hostkeyPath]) await refuseExisting(p);
  }
  // Made before the keys, so a directory that cannot be made fails at once; removed again if
  // the keys are interrupted. Files are written only once every key exists.
  const made = await mkdir(o.dir, { recursive: true });
  let pems: string[];
  try {
    pems = await untilAborted(Promise.all(plan.map(() => generateHostkeyPem(o.bits ?? DEFAULT_HOSTKEY_BITS, o.format))), o.signal);
  } catch (e) {
    // Sync: the thread pool that async fs calls need is busy with the keys still being made.
    if (e instanceof InterruptedError && made !== undefined) rmSync(made, { recursive: true, force: true });
    throw e;
  }
  return Promise.all(
    plan.map(async (n, i) => {
      const pem = pems[i] ?? "";
      await writeNewFile(n.hostkeyPath, pem, { force: o.force ?? false, mode: 0o600 });
      await writeNewFile(n.configPath, n.text, { force: o.force ?? false });
      const { text: _text, ...node } = n;
      return { ...node, idHex: hostkeyFromPem(pem).idHex };
    }),
  );
}

/**
 * Why admin ports adminBase..adminBase+nodes-1 do not fit next to the p2p and api ports of a
 * network at basePort, or null if they do.
 */
export function adminPortsClash(adminBase: number, nodes: number, basePort: number): string | null {
  const last = adminBase + nodes - 1;
  if (!Number.isInteger(adminBase) || adminBase < 1 || last > 65535) return `ports ${adminBase}-${last} do not fit in 1-65535`;
  const ranges: [string, number][] = [["p2p", basePort], ["api", basePort + API_PORT_OFFSET]];
  for (const [what, first] of ranges) {
    if (adminBase <= first + nodes - 1 && first <= last) {
      return `ports ${adminBase}-${last} overlap the ${what} ports ${first}-${first + nodes - 1}`;
    }
  }
  return null;
}

/** Slow work (key generation) was stopped by an abort signal (SIGINT/SIGTERM in the binary). */
export class InterruptedError extends Error {
  readonly code = "ERR_INTERRUPTED";
  constructor() {
    super("interrupted");
    this.name = "InterruptedError";
  }
}

/**
 * `work`, or InterruptedError as soon as `signal` aborts. The work itself runs on (key
 * generation cannot be cancelled); its result is dropped, and the binary exits meanwhile.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new InterruptedError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new InterruptedError());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The network directory exists as something else than a directory (--force cannot help). */
export class NotADirectoryError extends Error {
  readonly code = "ENOTDIR";
  constructor(readonly path: string) {
    super(`${path} exists and is not a directory`);
    this.name = "NotADirectoryError";
  }
}

/**
 * Writes a file that must not exist yet unless `force`. `mode` is also applied to a file that
 * is overwritten, since open(2) only uses it when it creates the file.
 */
export async function writeNewFile(
  path: string,
  text: string,
  o: { readonly force: boolean; readonly mode?: number },
): Promise<void> {
  try {
    await writeFile(path, text, { flag: o.force ? "w" : "wx", ...(o.mode === undefined ? {} : { mode: o.mode }) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw existsError(path);
    throw e;
  }
  if (o.force && o.mode !== undefined) await chmod(path, o.mode);
}

/**
 * Throws what writeNewFile(path, ..., { force }) would, without writing: EEXIST for a file that
 * exists without `force` (existsError), else the fs error (EISDIR, ENOENT or ENOTDIR for a
 * missing parent, EACCES). For callers with slow work to do before they write.
 */
export async function checkWritable(path: string, force: boolean): Promise<void> {
  const found = await stat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw e;
  });
  if (found !== null) {
    if (found.isDirectory()) throw Object.assign(new Error(`${path} is a directory`), { code: "EISDIR" });
    if (!force) throw existsError(path);
    await access(path, constants.W_OK);
    return;
  }
  const parent = await stat(dirname(path));
  if (!parent.isDirectory()) throw Object.assign(new Error(`${dirname(path)} is not a directory`), { code: "ENOTDIR" });
  await access(dirname(path), constants.W_OK);
}

async function refuseExisting(path: string): Promise<void> {
  const found = await stat(path).then(
    () => true,
    () => false,
  );
  if (found) throw existsError(path);
}

function existsError(path: string): Error {
  return Object.assign(new Error(`${path} already exists (pass --force to overwrite)`), { code: "EEXIST" });
}

function defaultOf(key: string): string {
  return GOSSIP_KEYS.find((s) => s.key === key)?.default ?? "";
}

function documented(s: KeySpec, value: string | undefined): string[] {
  const doc = `; ${s.doc}`;
  if (value !== undefined) return [doc, entry(s.key, value)];
  // Absent keys are shown commented out, so the file doubles as a reference of what exists.
  return [doc, `;${s.key} = ${s.default ?? (s.kind.type === "path" ? "PATH" : "HOST:PORT")}`];
}

function entry(key: string, value: string): string {
  if (/[\r\n]/.test(key + value) || /[=[\]]/.test(key) || key.trim() !== key || key === "") {
    throw new Error(`cannot write ${JSON.stringify(key)} = ${JSON.stringify(value)} as an INI line`);
  }
  // ini cuts unquoted values at ; or # and reads \ as an escape: quote such values whole.
  const quote = /[;#\\"']/.test(value) || value.trim() !== value;
  return `${key} = ${quote ? JSON.stringify(value) : value}`;
}
