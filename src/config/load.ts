// INI text -> typed Config, driven by the GOSSIP_KEYS table. Every error says which file,
// section, key and value: `node1.ini [gossip] degree: expected an integer 1-1000, got "abc"`.
//
// How `ini` v5 reads what users write (checked against ini 5.0.0, see test/config/load.test.ts):
// - whole-line `;` and `#` comments are skipped;
// - an unquoted value ends at the first unescaped `;` or `#`, with or without whitespace before
//   it, so the spec's `cache_size = 50 ; max items` yields "50" (a `#` or `;` inside a value must
//   be escaped as `\#` / `\;`, or the whole value quoted);
// - a value that is entirely quoted is unquoted, but `"x" ; comment` keeps its quotes, so we
//   strip one pair of matching quotes ourselves;
// - keys before the first section land at the top level (our globals), `[a.b]` nests into a,
//   a bare `key` becomes true, `true`/`false`/`null` become JSON values, `key[]` an array, and a
//   repeated key silently keeps the last value.

import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse } from "ini";
import { formatAddress, parseAddress, sameAddress } from "./address.ts";
import { DEFAULT_CONFIG_TEXT, GOSSIP_KEYS, type Address, type Config, type KeySpec } from "./schema.ts";

export class ConfigError extends Error {
  readonly code = "ERR_CONFIG";
  constructor(
    message: string,
    /** Section and key the error is about ("global" for keys outside sections), when it is about one. */
    readonly section: string | null = null,
    readonly key: string | null = null,
    /** The message without the `file [section] key: ` prefix, for callers that name the source. */
    readonly detail: string = message,
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
const SPECS = new Map(GOSSIP_KEYS.map((s) => [s.key, s]));

type Section = Record<string, unknown>;
type Value = number | string | Address | null;

/** Parses INI text; `file` is only used in messages and to resolve a relative hostkey. */
export function parseConfig(text: string, file: string | null): ParsedConfig {
  const where = file ?? DEFAULTS_NAME;
  const top = parse(text.replace(/^\uFEFF/, "")) as Section;
  const warnings: string[] = [];

  const gossip = top["gossip"];
  if (gossip !== undefined && !isSection(gossip)) {
    // ini drops a [gossip] section silently when a global key of the same name exists.
    throw new ConfigError(
      `${where} [global] gossip: expected no global key named like the [gossip] section, got ${JSON.stringify(show(gossip))}`,
      "global",
      "gossip",
    );
  }
  const section: Section = gossip ?? {};
  for (const [key, value] of Object.entries(section)) {
    // Nested objects come from [gossip.x] sections: other sections, ignored like [onion].
    if (!isSection(value) && !SPECS.has(key)) warnings.push(`${where} [gossip] ${key}: unknown key (ignored)`);
  }

  const fields: Partial<Record<keyof Config, Value>> = {};
  for (const spec of GOSSIP_KEYS) {
    const raw = Object.hasOwn(section, spec.key) ? section[spec.key] : undefined;
    fields[spec.field] = parseValue(spec, raw, where);
  }
  crossCheck(fields, where);
  // Safe: the loop above filled every field of the table, and the table covers Config.
  const config = { ...fields, file, hostkey: parseHostkey(top["hostkey"], file, where) } as unknown as Config;
  return { config, warnings };
}

/** Reads and parses a config file; an unreadable file is a ConfigError naming path and reason. */
export async function loadConfig(path: string): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file: ${osReason(e)}`);
  }
  return parseConfig(text, path);
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
  };
  const known = err?.code ? phrase[err.code] : undefined;
  if (known && err.code) return `${known} (${err.code})`;
  return err?.message ?? String(e);
}

/** Error message shape shared by every value check. */
export function expected(where: string, section: string, key: string, what: string, got: string): ConfigError {
  const detail = `expected ${what}, got ${JSON.stringify(got)}`;
  return new ConfigError(`${where} [${section}] ${key}: ${detail}`, section, key, detail);
}

function parseValue(spec: KeySpec, raw: unknown, where: string): Value {
  const text = raw === undefined ? spec.default : unquote(show(raw));
  const kind = spec.kind;
  if (text === undefined) {
    if (kind.type === "address" && kind.optional) return null;
    throw new ConfigError(`${where} [gossip] ${spec.key}: missing required key`, "gossip", spec.key, "missing required key");
  }
  const fail = (what: string) => expected(where, "gossip", spec.key, what, text);
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
  }
}

function crossCheck(fields: Partial<Record<keyof Config, Value>>, where: string): void {
  const p2p = fields.p2pAddress as Address;
  const api = fields.apiAddress as Address;
  const boot = fields.bootstrapper as Address | null;
  if (boot) {
    // Port 0 means "any free port" for listening; nobody can be reached on it.
    if (boot.port === 0) throw expected(where, "gossip", "bootstrapper", "a port 1-65535", formatAddress(boot));
    // Spec: a bootstrapper equal to our own p2p_address means we are the first peer.
    if (sameAddress(boot, p2p)) fields.bootstrapper = null;
  }
  if (api.port !== 0 && sameAddress(api, p2p)) {
    throw expected(where, "gossip", "api_address", "an address other than p2p_address", formatAddress(api));
  }
}

function parseHostkey(raw: unknown, file: string | null, where: string): string | null {
  if (raw === undefined) return null;
  const text = typeof raw === "string" ? unquote(raw) : "";
  if (text === "") throw expected(where, "global", "hostkey", "a path to a PEM RSA private key", show(raw));
  // Relative to the config file, so a directory of configs and keys can move as a whole.
  return file === null ? resolve(text) : resolve(dirname(file), text);
}

function isSection(v: unknown): v is Section {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The value as the user wrote it, as near as ini lets us tell. */
function show(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  if (isSection(v)) return "[section]";
  return String(v);
}

function unquote(s: string): string {
  const m = /^"(.*)"$|^'(.*)'$/s.exec(s);
  return m ? (m[1] ?? m[2] ?? "") : s;
}
