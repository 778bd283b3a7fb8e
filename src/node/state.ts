// The state file: what a node keeps across restarts (known peer addresses, and the ids of
// items it has seen lately with how long each is still suppressed), so a restarted node
// rejoins through peers it knew (its bootstrapper may be gone; the first peer has none) and,
// after a clean shutdown, never delivers an item to its modules twice. JSON, rewritten
// atomically (a temporary file renamed over the old one) every STATE_WRITE_MS when it
// changed, and at shutdown; after a crash, ids seen in the last STATE_WRITE_MS are lost.

import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { formatAddress, parseAddress } from "../config/address.ts";
import { STATE_OFF } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { CoreState } from "../core/core.ts";
import type { Logger } from "../util/log.ts";

/** How often a running node saves its state (when it changed). */
export const STATE_WRITE_MS = 5000;
const VERSION = 1;
/** A state file is small (STATE_MAX_SEEN ids); anything far larger is not ours. */
const MAX_STATE_BYTES = 8 << 20;

interface StateFile {
  readonly version: number;
  /** Known peer addresses. */
  readonly peers: string[];
  /** [item id (hex), wall-clock ms until which it is suppressed]. */
  readonly seen: Array<[string, number]>;
}

/**
 * Where a config keeps its state, or null when state_dir is off, or there is neither a config
 * file nor a state_dir:
 * - next to the config: `<config dir>/<config name>.state` (two configs of one directory have
 *   different names, so their files differ);
 * - under state_dir: `<state_dir>/<config name>-<hash>.state`, hash = the first 8 hex digits
 *   of SHA-256 of the config's absolute path, so configs of one name in different directories
 *   (two networks' `gossip.ini`) sharing a state_dir get files of their own. The path, not the
 *   identity or the p2p address: those are not always stable (no hostkey: a new identity at
 *   every start; p2p port 0: a new port), and a state file read under another name is lost.
 */
export function statePath(config: Config): string | null {
  if (config.stateDir === STATE_OFF) return null;
  const name = configName(config.file);
  if (config.stateDir === null) return config.file === null ? null : join(dirname(resolve(config.file)), `${name}.state`);
  if (config.file === null) return join(config.stateDir, `${name}.state`);
  const hash = new Bun.CryptoHasher("sha256").update(resolve(config.file)).digest("hex").slice(0, 8);
  return join(config.stateDir, `${name}-${hash}.state`);
}

/**
 * The name a state_dir file had before it carried the hash (`<state_dir>/<config name>.state`),
 * or null when it did not change.
 */
export function legacyStatePath(config: Config): string | null {
  if (config.stateDir === null || config.stateDir === STATE_OFF || config.file === null) return null;
  return join(config.stateDir, `${configName(config.file)}.state`);
}

/** A config file's name without its extension ("gossip" without a file, or for ".ini"). */
function configName(file: string | null): string {
  return file === null ? "gossip" : basename(file).replace(/\.[^.]*$/, "") || "gossip";
}

/**
 * Upgrades a state file from its old name: when the new file is absent and the old one exists,
 * renames it (atomic: of several nodes whose configs had the old name in common, one gets it).
 * Returns the old path when it did.
 */
export function claimLegacyState(path: string, legacy: string | null): string | null {
  if (legacy === null || legacy === path || existsSync(path)) return null;
  try {
    renameSync(legacy, path);
    return legacy;
  } catch {
    return null;
  }
}

/** Lock files this process holds (two nodes of one process must not share a state file either). */
const heldLocks = new Set<string>();

export class StateLockError extends Error {
  readonly code = "ERR_STATE_LOCKED";
}

/**
 * Takes `<state file>.lock` (created exclusively, holding our pid), so that a second running
 * node cannot write the same state file; release() removes it (at exit). A lock whose process
 * is gone (kill -9, a crash), or is now another program, is stale and taken over. Throws
 * StateLockError naming the file and the pid that holds it.
 */
export function lockState(path: string): { readonly path: string; release(): void } {
  const lock = `${path}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: "wx" });
      heldLocks.add(lock);
      let released = false;
      return {
        path: lock,
        release: () => {
          if (released) return;
          released = true;
          heldLocks.delete(lock);
          try {
            rmSync(lock, { force: true });
          } catch {}
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
    }
    const holder = lockHolder(lock);
    if (holder !== null) {
      throw new StateLockError(`state file ${path} is in use by another running node (pid ${holder}, lock ${lock}): give each node its own config, or stop that one`);
    }
    // Stale: its process is gone. Removed and tried once more (a node starting at this very
    // moment wins the exclusive create, and this one reports it).
    try {
      rmSync(lock, { force: true });
    } catch {}
  }
}

/** The live pid holding `lock`, or null when the lock is stale. */
function lockHolder(lock: string): number | null {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(lock, "utf8"), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (pid === process.pid) return heldLocks.has(lock) ? pid : null;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  // A reused pid: where /proc tells, a process running another program does not hold it.
  try {
    if (realpathSync(`/proc/${pid}/exe`) !== realpathSync(process.execPath)) return null;
  } catch {}
  return pid;
}

/**
 * Creates state_dir (and its parents) when the config names one that does not exist yet.
 * Returns why it could not, or null. (A state_dir that exists but is no directory is a
 * config error at load.)
 */
export function makeStateDir(config: Config): string | null {
  if (config.stateDir === null || config.stateDir === STATE_OFF) return null;
  try {
    mkdirSync(config.stateDir, { recursive: true });
    return null;
  } catch (e) {
    return `cannot create directory ${JSON.stringify(config.stateDir)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

/**
 * Reads a state file. Absent: null (a first start). Unreadable or not ours: a warning and
 * null; a node always starts.
 */
export async function readState(path: string, log: Logger, now = Date.now()): Promise<CoreState | null> {
  const file = Bun.file(path);
  if (!(await file.exists())) return null;
  try {
    if (file.size > MAX_STATE_BYTES) throw new Error(`larger than ${MAX_STATE_BYTES >> 20} MiB`);
    const s = parse(await file.text());
    // Peers spread by shuffles from every state file to every other: junk must stop here.
    const peers = s.peers.filter(isPeerAddress);
    if (peers.length < s.peers.length) {
      log.warn("saved peers dropped: not host:port with a port 1-65535", { file: path, dropped: s.peers.length - peers.length, kept: peers.length });
    }
    const seen = s.seen.filter(([, until]) => until > now).map(([id, until]) => [id, until - now] as const);
    log.info("state read", { file: path, peers: peers.length, seen: seen.length });
    return { peers, seen };
  } catch (e) {
    log.warn("state file ignored: not readable as a gossip state file", { file: path, why: (e as Error).message });
    return null;
  }
}

/** A peer address as the node writes it: host:port or [IPv6]:port (the config's parser), port 1-65535. */
function isPeerAddress(text: string): boolean {
  try {
    const a = parseAddress(text);
    return a.port !== 0 && formatAddress(a) === text;
  } catch {
    return false;
  }
}

function parse(text: string): StateFile {
  const s = JSON.parse(text) as Partial<StateFile>;
  if (s.version !== VERSION) throw new Error(`version ${JSON.stringify(s.version)}, expected ${VERSION}`);
  const peers = Array.isArray(s.peers) ? s.peers.filter((p): p is string => typeof p === "string" && p.length > 0 && p.length < 300) : null;
  const seen = Array.isArray(s.seen)
    ? s.seen.filter((e): e is [string, number] => Array.isArray(e) && typeof e[0] === "string" && /^[0-9a-f]{32}$/.test(e[0]) && Number.isFinite(e[1]))
    : null;
  if (peers === null || seen === null) throw new Error("peers or seen missing");
  return { version: VERSION, peers, seen };
}

/** Saves a node's state now and then, and once more at shutdown. */
export class StateWriter {
  private last = "";
  private timer: ReturnType<typeof setInterval> | null = null;
  private failing = false;

  constructor(
    readonly path: string,
    private readonly snapshot: () => CoreState,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.save(), STATE_WRITE_MS);
  }

  /**
   * Writes the state if it changed since the last write. Never throws (it runs from a timer
   * and at shutdown): a failure is logged as a warning once until a write works again.
   */
  save(now = Date.now()): void {
    try {
      this.write(now);
    } catch (e) {
      if (!this.failing) this.log.warn("cannot write the state file", { file: this.path, why: (e as Error)?.message ?? String(e) });
      this.failing = true;
    }
  }

  private write(now: number): void {
    const s = this.snapshot();
    const text = JSON.stringify({
      version: VERSION,
      peers: [...s.peers],
      // Wall-clock deadlines, rounded to seconds: unchanged ids give unchanged text.
      seen: s.seen.map(([id, left]) => [id, Math.ceil((now + left) / 1000) * 1000]),
    } satisfies StateFile);
    if (text === this.last) return;
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, this.path);
    } catch (e) {
      // Bun's rmSync throws even with force when a parent is a regular file (EFAULT).
      try {
        rmSync(tmp, { force: true });
      } catch {}
      throw e;
    }
    this.last = text;
    if (this.failing) this.log.info("state file written again", { file: this.path });
    this.failing = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.save();
  }
}
