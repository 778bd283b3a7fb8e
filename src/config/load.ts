// INI text -> typed Config, driven by the GOSSIP_KEYS table. Every error says which file,
// line, section, key and value: `node1.ini line 4 [gossip] degree: expected an integer
// 1-1000, got "abc"`. The file's syntax is read by ini.ts; here we decide what it means:
// - [gossip] is ours: a repeated key, a second [gossip], `hostkey` inside it, or a section
//   whose name is a near miss of it (`[Gossip]`, `[gosip]`) are errors, unknown keys warnings;
// - of the globals we read `hostkey` (set at most once); the rest, and every other section,
//   belong to other modules and are left alone (but a near miss of `hostkey` is warned about);
// - an empty file, a binary file, or one too large to be a config is an error, not defaults.

import { statSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { formatAddress, parseAddress, sameAddress } from "./address.ts";
import { IniSyntaxError, parseIni, type IniEntry } from "./ini.ts";
import { DEFAULT_CONFIG_TEXT, GOSSIP_KEYS, type Address, type Config, type KeySpec } from "./schema.ts";

export class ConfigError extends Error {
  readonly code = "ERR_CONFIG";
  constructor(
    message: string,
    /** Section and key the error is about ("global" for keys outside sections), when it is about one. */
    readonly section: string | null = null,
    readonly key: string | null = null,
    /** The message without the `file line N [section] key: ` prefix, for callers that name the source. */
    readonly detail: string = message,
    /** 1-based line in the file, when the error is about one. */
    readonly line: number | null = null,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface ParsedConfig {
  readonly config: Config;
  /** Human-readable, one per problem that did not stop the parse (e.g. unknown keys). */
  readonly warnings: string[];
}

const DEFAULTS_NAME = "<defaults>";
const SECTION = "gossip";
const HOSTKEY = "hostkey";
const SPECS = new Map(GOSSIP_KEYS.map((s) => [s.key, s]));
/** Config and hostkey files are small; anything larger is the wrong file (or /dev/zero). */
export const MAX_FILE_BYTES = 1 << 20;

type Value = number | string | Address | readonly Address[] | null;

/** `file line N [section] key: detail`, each part only when known. */
function located(where: string, line: number | null, section: string | null, key: string | null, detail: string): ConfigError {
  const at = [where, line === null ? "" : ` line ${line}`, section === null ? "" : ` [${section}]`, key === null ? "" : ` ${key}`];
  return new ConfigError(`${at.join("")}: ${detail}`, section, key, detail, line);
}

/** Parses INI text; `file` is only used in messages and to resolve a relative hostkey. */
export function parseConfig(text: string, file: string | null): ParsedConfig {
  const where = file ?? DEFAULTS_NAME;
  let ini;
  try {
    ini = parseIni(text, { strictSections: (name) => name === SECTION });
  } catch (e) {
    if (e instanceof IniSyntaxError) throw located(where, e.line, null, null, e.detail);
    throw e;
  }
  if (ini.meaningful === 0) {
    throw located(where, null, null, null, "empty config: expected a [gossip] section and/or a global hostkey (see gossip config node)");
  }
  const warnings: string[] = [];

  const ours = ini.sections.filter((s) => s.name === SECTION);
  for (const s of ini.sections) {
    if (s.name === SECTION || !nearMiss(s.name, SECTION)) continue;
    const why = s.name.trim().toLowerCase() === SECTION ? "section names are case-sensitive and exact" : "unknown section";
    throw located(where, s.line, s.name, null, `${why}: did you mean [${SECTION}]?`);
  }
  if (ours.length > 1) {
    const [first, second] = ours as [(typeof ours)[0], (typeof ours)[0]];
    throw located(where, second.line, SECTION, null, `a second [${SECTION}] section (the first is at line ${first.line}); merge them`);
  }
  if (ours.length === 0) warnings.push(`${where}: no [${SECTION}] section: every gossip key is at its default`);

  const section = new Map<string, IniEntry>();
  for (const e of ours[0]?.entries ?? []) {
    const before = section.get(e.key);
    if (before) throw located(where, e.line, SECTION, e.key, `set twice (lines ${before.line} and ${e.line}); keep one`);
    if (e.key === HOSTKEY) {
      throw located(where, e.line, SECTION, e.key, "must be a global key, before the first [section] (all modules share it), not inside [gossip]");
    }
    section.set(e.key, e);
    if (SPECS.has(e.key)) continue;
    const hint = closest(e.key, [...SPECS.keys()]);
    warnings.push(`${where} line ${e.line} [${SECTION}] ${e.key}: unknown key (ignored)${hint ? `; did you mean ${hint}?` : ""}`);
  }

  let hostkey: IniEntry | undefined;
  for (const e of ini.globals) {
    if (e.key === HOSTKEY) {
      if (hostkey) throw located(where, e.line, "global", HOSTKEY, `set twice (lines ${hostkey.line} and ${e.line}); keep one`);
      hostkey = e;
    } else if (nearMiss(e.key, HOSTKEY)) {
      warnings.push(`${where} line ${e.line} [global] ${e.key}: not a key gossip reads; did you mean ${HOSTKEY}?`);
    }
  }

  const fields: Partial<Record<keyof Config, Value>> = {};
  for (const spec of GOSSIP_KEYS) fields[spec.field] = parseValue(spec, section.get(spec.key), where, file);
  crossCheck(fields, section, where);
  // Safe: the loop above filled every field of the table, and the table covers Config.
  const config = { ...fields, file, hostkey: parseHostkey(hostkey, file, where), hostkeyLine: hostkey?.line ?? null } as unknown as Config;
  return { config, warnings };
}

/** Parses a config file's bytes: UTF-8 text (a BOM is fine), nothing binary. */
export function parseConfigBytes(bytes: Uint8Array, file: string): ParsedConfig {
  const bad = invalidUtf8(bytes);
  if (bad !== null) {
    const line = lineAt(bytes, bad.offset);
    throw located(file, line, null, null, `not a text file (${bad.what}); expected a UTF-8 INI file`);
  }
  return parseConfig(new TextDecoder().decode(bytes), file);
}

/** Reads and parses a config file; an unreadable file is a ConfigError naming path and reason. */
export async function loadConfig(path: string): Promise<ParsedConfig> {
  let bytes: Uint8Array;
  try {
    bytes = (await readSmallFile(path)).bytes;
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file: ${osReason(e)}`);
  }
  return parseConfigBytes(bytes, path);
}

/**
 * Reads at most MAX_FILE_BYTES of a file; a larger one is an error (code EFBIG), so a wrong
 * path such as /dev/zero cannot exhaust memory. Also returns the file's mode.
 */
export async function readSmallFile(path: string): Promise<{ bytes: Uint8Array; mode: number }> {
  const fh = await open(path, "r");
  try {
    const { mode } = await fh.stat();
    const buf = new Uint8Array(MAX_FILE_BYTES + 1);
    let n = 0;
    while (n < buf.byteLength) {
      const { bytesRead } = await fh.read(buf, n, buf.byteLength - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_FILE_BYTES) {
      throw Object.assign(new Error(`larger than ${MAX_FILE_BYTES >> 20} MiB`), { code: "EFBIG" });
    }
    return { bytes: buf.subarray(0, n), mode };
  } finally {
    await fh.close();
  }
}

/** The built-in configuration (`gossip run` without -c). */
export function defaultConfig(): Config {
  // DEFAULT_CONFIG_TEXT holds the [gossip] keys without the section header.
  return parseConfig(`[gossip]\n${DEFAULT_CONFIG_TEXT}\n`, null).config;
}

/** A short, stable description of a failed fs call: `no such file (ENOENT)`. */
export function osReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const phrase: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EPERM: "permission denied",
    EISDIR: "is a directory",
    ENOTDIR: "a parent is not a directory",
    EEXIST: "file exists",
    EFBIG: `larger than ${MAX_FILE_BYTES >> 20} MiB, not a config or key file`,
  };
  const known = err?.code ? phrase[err.code] : undefined;
  if (known && err.code) return `${known} (${err.code})`;
  return err?.message ?? String(e);
}

/** Error message shape shared by every value check. */
export function expected(
  where: string,
  section: string,
  key: string,
  what: string,
  got: string,
  line: number | null = null,
): ConfigError {
  return located(where, line, section, key, `expected ${what}, got ${JSON.stringify(got)}`);
}

/** The value of `state_dir` that turns the state file off. */
export const STATE_OFF = "off";

function parseValue(spec: KeySpec, entry: IniEntry | undefined, where: string, file: string | null): Value {
  const text = entry === undefined ? spec.default : entry.value;
  const kind = spec.kind;
  if (text === undefined) {
    if (kind.type === "address" && kind.optional) return null;
    if (kind.type === "addresses") return [];
    if (kind.type === "path") return null;
    throw located(where, null, SECTION, spec.key, "missing required key");
  }
  const fail = (what: string) => expected(where, SECTION, spec.key, what, text, entry?.line ?? null);
  switch (kind.type) {
    case "int": {
      const what = `an integer ${kind.min}-${kind.max}`;
      // Decimal digits only: Number() would also take "0x10", "1e3" and " ".
      if (!/^[0-9]+$/.test(text)) throw fail(what);
      const n = Number(text);
      if (n < kind.min || n > kind.max) throw fail(what);
      return n;
    }
    case "enum":
      if (!kind.values.includes(text)) throw fail(`one of ${kind.values.join(", ")}`);
      return text;
    case "address":
      // An empty optional address reads as absent: `bootstrapper =` on the first peer.
      if (text === "" && kind.optional) return null;
      try {
        return parseAddress(text);
      } catch (e) {
        throw fail(`host:port or [IPv6]:port (${(e as Error).message})`);
      }
    case "addresses": {
      if (text.trim() === "") return [];
      const out: Address[] = [];
      const parts = text.split(",");
      for (const part of parts) {
        try {
          out.push(parseAddress(part.trim()));
        } catch (e) {
          const why = (e as Error).message;
          if (parts.length === 1) throw fail(`host:port or [IPv6]:port (${why})`);
          throw fail(`host:port or [IPv6]:port, or several separated by commas (${JSON.stringify(part.trim())}: ${why})`);
        }
      }
      return out;
    }
    case "path": {
      if (text === "") return null;
      if (text === STATE_OFF) return STATE_OFF;
      const path = file === null ? resolve(text) : resolve(dirname(file), text);
      // state_dir is the only path key. One that does not exist is created at start; one that
      // exists as something else could never hold the state file.
      const kind = pathKind(path);
      if (kind !== "directory" && kind !== "absent") throw fail(`a directory (it is ${kind})`);
      return path;
    }
  }
}

/** What is at `path`: "directory", "absent", or what else ("a file", "under a file", ...). */
function pathKind(path: string): string {
  try {
    const st = statSync(path);
    return st.isDirectory() ? "directory" : st.isFile() ? "a file" : "not a directory";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "absent";
    if (code === "ENOTDIR") return "under a file, not a directory";
    // Unreadable (EACCES, ...): left to the start, which reports it.
    return "absent";
  }
}

function crossCheck(fields: Partial<Record<keyof Config, Value>>, section: ReadonlyMap<string, IniEntry>, where: string): void {
  const p2p = fields.p2pAddress as Address;
  const api = fields.apiAddress as Address;
  const line = (key: string) => section.get(key)?.line ?? null;
  const boots: Address[] = [];
  for (const boot of fields.bootstrappers as readonly Address[]) {
    // Port 0 means "any free port" for listening; nobody can be reached on it.
    if (boot.port === 0) throw expected(where, SECTION, "bootstrapper", "a port 1-65535", formatAddress(boot), line("bootstrapper"));
    // Spec: a bootstrapper equal to our own p2p_address means we are the first peer. In a
    // list shared by several nodes, each one skips itself.
    const self = sameAddress(boot, p2p) || (fields.advertiseAddress !== null && sameAddress(boot, fields.advertiseAddress as Address));
    if (self || boots.some((b) => sameAddress(b, boot))) continue;
    boots.push(boot);
  }
  fields.bootstrappers = boots;
  // Two listeners on one address: blame the key the file sets (the later one if it sets
  // both), since a key at its default is not something the user wrote.
  const clash = (a: string, b: string, addr: Address): ConfigError => {
    const [la, lb] = [line(a), line(b)];
    const [key, other] = la === null || (lb !== null && lb > la) ? [b, a] : [a, b];
    return expected(where, SECTION, key, `an address other than ${other}`, formatAddress(addr), line(key));
  };
  if (api.port !== 0 && sameAddress(api, p2p)) throw clash("p2p_address", "api_address", api);
  const adv = fields.advertiseAddress as Address | null;
  if (adv && (adv.port === 0 || isWildcard(adv.host))) {
    throw expected(where, SECTION, "advertise_address", "a host and port peers can dial (not a wildcard, not port 0)", formatAddress(adv), line("advertise_address"));
  }
  if (!adv && isWildcard(p2p.host)) {
    // Peers would be told to dial 0.0.0.0 or ::, which reaches nobody.
    throw expected(where, SECTION, "p2p_address", "a concrete host, or advertise_address set to the address peers dial", formatAddress(p2p), line("p2p_address"));
  }
  // A new neighbour is offered the items we hold (offer_recent_ms); one that saw them must
  // still remember their ids, or it delivers and spreads them again, and so does everyone it
  // offers them to. It remembers the last seen_cache_size ids, and we offer at least the last
  // cache_size items.
  const [seen, cache] = [fields.seenCacheSize as number, fields.cacheSize as number];
  if (seen < cache) {
    const key = line("seen_cache_size") !== null || line("cache_size") === null ? "seen_cache_size" : "cache_size";
    const [want, got] = key === "seen_cache_size" ? [`at least cache_size (${cache})`, seen] : [`at most seen_cache_size (${seen})`, cache];
    throw expected(where, SECTION, key, want, String(got), line(key));
  }
  const admin = fields.adminAddress as Address | null;
  if (admin && admin.port !== 0) {
    for (const [key, addr] of [["p2p_address", p2p], ["api_address", api]] as const) {
      if (sameAddress(admin, addr)) throw clash(key, "admin_address", admin);
    }
  }
}

/** 0.0.0.0 or :: (any IPv4/IPv6 address). */
function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || /^[0:]+$/.test(host);
}

function parseHostkey(entry: IniEntry | undefined, file: string | null, where: string): string | null {
  if (entry === undefined) return null;
  if (entry.value === "") throw expected(where, "global", HOSTKEY, "a path to a PEM RSA private key", "", entry.line);
  // Relative to the config file, so a directory of configs and keys can move as a whole.
  return file === null ? resolve(entry.value) : resolve(dirname(file), entry.value);
}

/** A likely typo of `want`: other case or spacing, or at most two edits away. */
function nearMiss(name: string, want: string): boolean {
  const n = name.trim().toLowerCase();
  return n === want || distance(n, want) <= 2;
}

/** The known key a mistyped one most likely meant, if any is close. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const n = name.toLowerCase();
  for (const k of known) {
    const d = distance(n, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.min(2, Math.floor(name.length / 3)) || n === best ? best : undefined;
}

/** Optimal string alignment distance (edits and adjacent swaps), capped: long names are never near. */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64) return 3;
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The first offset where bytes stop being UTF-8, with what is there; null if all is UTF-8. */
function invalidUtf8(bytes: Uint8Array): { offset: number; what: string } | null {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return null;
  } catch {
    // Find the shortest failing prefix: with stream=true an unfinished sequence at the end of
    // a prefix is not an error, so "the prefix fails" only turns true once, past the bad byte.
    const fails = (n: number) => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
        return false;
      } catch {
        return true;
      }
    };
    let lo = 0;
    let hi = bytes.byteLength;
    if (!fails(hi)) return { offset: hi, what: "an unfinished UTF-8 sequence at the end" };
    while (lo + 1 < hi) {
      const mid = (lo + hi) >> 1;
      if (fails(mid)) hi = mid;
      else lo = mid;
    }
    // bytes[hi - 1] broke it; if it cut short a sequence, name the sequence from its lead byte.
    let start = hi - 1;
    for (let k = 1; k <= 3 && hi - 1 - k >= 0; k++) {
      const b = bytes[hi - 1 - k] ?? 0;
      if (b >= 0xc0) {
        start = hi - 1 - k;
        break;
      }
      if (b < 0x80) break;
    }
    const hex = [...bytes.subarray(start, hi)].map((b) => `0x${b.toString(16).padStart(2, "0")}`);
    return { offset: start, what: hex.length === 1 ? `byte ${hex[0]} is not UTF-8` : `bytes ${hex.join(" ")} are not UTF-8` };
  }
}

function lineAt(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < bytes.byteLength; i++) if (bytes[i] === 0x0a) line++;
  return line;
}
