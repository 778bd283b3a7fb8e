// Structured logs on stderr: `TIME LEVEL scope message key=value ...`, or (log_format = json)
// one JSON object per line for log shippers: {"time","level","scope","msg",...fields}.
// stdout is reserved for what scripts read (the `ready` line, JSON notifications).

export const LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type Level = (typeof LEVELS)[number];
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export type Fields = Record<string, string | number | boolean | bigint | null | undefined>;
/**
 * Where finished lines go. Returning false means the line was dropped because the output is
 * backed up (nobody reads stderr); the logger counts such lines and reports the count in a
 * warning of its own once a line gets through again, so a stalled reader costs lines, never
 * unbounded memory.
 */
export type Sink = (line: string) => unknown;
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const stderrSink: Sink = (line) => {
  process.stderr.write(line + "\n");
};

function formatValue(v: Fields[string]): string {
  const s = String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

export class Logger {
  constructor(
    readonly level: Level = "info",
    readonly scope = "gossip",
    private readonly sink: Sink = stderrSink,
    private readonly base: Fields = {},
    readonly format: LogFormat = "text",
    /** Lines the sink dropped and not yet reported; shared with every child. */
    private readonly dropped = { lines: 0 },
  ) {}

  child(scope: string, fields: Fields = {}): Logger {
    return new Logger(this.level, scope, this.sink, { ...this.base, ...fields }, this.format, this.dropped);
  }

  enabled(level: Level): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, fields?: Fields): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.write("error", msg, fields);
  }

  private write(level: Level, msg: string, fields?: Fields): void {
    if (!this.enabled(level)) return;
    if (this.dropped.lines > 0) {
      const note = new Logger(this.level, "log", this.sink, {}, this.format).line("warn", "log lines dropped: the log output was not being read", {
        dropped: this.dropped.lines,
      });
      if (this.sink(note) === false) {
        this.dropped.lines++;
        return;
      }
      this.dropped.lines = 0;
    }
    if (this.sink(this.line(level, msg, fields)) === false) this.dropped.lines++;
  }

  private line(level: Level, msg: string, fields?: Fields): string {
    if (this.format === "json") return this.json(level, msg, fields);
    let line = `${new Date().toISOString()} ${level.toUpperCase()} ${this.scope} ${msg}`;
    const all = fields ? { ...this.base, ...fields } : this.base;
    for (const k in all) {
      const v = all[k];
      if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    }
    return line;
  }

  private json(level: Level, msg: string, fields?: Fields): string {
    const o: Record<string, string | number | boolean | null> = { time: new Date().toISOString(), level, scope: this.scope, msg };
    const all = fields ? { ...this.base, ...fields } : this.base;
    for (const k in all) {
      const v = all[k];
      if (v === undefined || k in o) continue;
      o[k] = typeof v === "bigint" ? v.toString() : v;
    }
    return JSON.stringify(o);
  }
}

/** A logger that keeps its lines in memory: for tests that assert on what was logged. */
export function memoryLogger(level: Level = "debug"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger(level, "gossip", (l) => lines.push(l)), lines };
}

export const silentLogger = new Logger("silent");
