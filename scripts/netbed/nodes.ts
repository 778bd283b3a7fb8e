// One compiled `gossip run` per host namespace: start (and restart with the same config and
// hostkey), stop with SIGTERM, kill, freeze with SIGSTOP and thaw. Every process is handled by
// its pid; its stderr is appended to the host's log file, one marker line per start.

import type { Subprocess } from "bun";
import { appendFileSync, closeSync, openSync, readFileSync } from "node:fs";
import type { HostPlan } from "./plan.ts";
import { Lines } from "./proc.ts";

export type NodeState = "down" | "up" | "frozen";

export class NodeProc {
  private proc: Subprocess<"ignore", "pipe", number> | null = null;
  private frozenNow = false;
  /** Starts so far: 1 after the first start, 2 after a restart, ... */
  lives = 0;

  constructor(
    readonly host: HostPlan,
    readonly configPath: string,
    readonly logPath: string,
    private readonly gossip: string,
  ) {}

  get state(): NodeState {
    if (this.proc === null || this.proc.exitCode !== null || this.proc.signalCode !== null) return "down";
    return this.frozenNow ? "frozen" : "up";
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Starts the node and waits for its ready line. */
  async start(deadlineMs = 30_000): Promise<void> {
    if (this.state !== "down") throw new Error(`h${this.host.k}: already running`);
    this.lives++;
    appendFileSync(this.logPath, `=== netbed: start ${this.lives} at ${new Date().toISOString()}\n`);
    const fd = openSync(this.logPath, "a");
    try {
      this.proc = Bun.spawn(["ip", "netns", "exec", this.host.ns, this.gossip, "run", "-c", this.configPath], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: fd,
      });
    } finally {
      closeSync(fd);
    }
    this.frozenNow = false;
    const lines = new Lines(this.proc.stdout);
    let line: string;
    try {
      line = await lines.next(deadlineMs, `h${this.host.k}: ready line`);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.logTail(10)}`);
    }
    if (!line.startsWith("ready ")) throw new Error(`h${this.host.k}: unexpected first line ${JSON.stringify(line)}`);
  }

  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    const p = this.proc;
    if (!p || this.state === "down") return;
    if (this.frozenNow) this.thaw();
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), graceMs);
    await p.exited;
    clearTimeout(t);
  }

  /** SIGKILL: the process dies at once, as in a crash. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || this.state === "down") return;
    p.kill("SIGKILL");
    await p.exited;
    this.frozenNow = false;
  }

  freeze(): void {
    if (this.state !== "up") throw new Error(`h${this.host.k}: cannot freeze a node that is ${this.state}`);
    this.proc!.kill("SIGSTOP");
    this.frozenNow = true;
  }

  thaw(): void {
    if (!this.frozenNow || !this.proc) return;
    this.proc.kill("SIGCONT");
    this.frozenNow = false;
  }

  /** The last `n` log lines that are not debug lines (for failure messages). */
  logTail(n: number, match?: RegExp): string {
    let lines: string[];
    try {
      lines = readFileSync(this.logPath, "utf8").split("\n").filter(Boolean);
    } catch {
      return `  (no log at ${this.logPath})`;
    }
    const picked = lines.filter((l) => (match ? match.test(l) : !l.includes(" DEBUG "))).slice(-n);
    return picked.map((l) => `  h${this.host.k}| ${l}`).join("\n");
  }
}
