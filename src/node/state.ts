// The state file: what a node keeps across restarts (known peer addresses, and the ids of
// items it has seen lately with how long each is still suppressed), so a restarted node
// rejoins through peers it knew (its bootstrapper may be gone; the first peer has none) and
// never delivers an item to its modules twice. JSON, rewritten atomically (a temporary file
// renamed over the old one) every STATE_WRITE_MS when it changed, and at shutdown.

import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
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
 * Where a config keeps its state: `<state_dir or the config's directory>/<config name>.state`;
 * null when state_dir is off, or there is neither a config file nor a state_dir.
 */
export function statePath(config: Config): string | null {
  if (config.stateDir === STATE_OFF) return null;
  const dir = config.stateDir ?? (config.file === null ? null : dirname(resolve(config.file)));
  if (dir === null) return null;
  const name = config.file === null ? "gossip" : basename(config.file).replace(/\.[^.]*$/, "") || "gossip";
  return join(dir, `${name}.state`);
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
