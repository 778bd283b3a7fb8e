// A strict reader for the VoidPhone INI file: text in, globals and sections out, every entry
// with its line number. Structure only; what the keys mean is load.ts's business.
//
// Syntax (the common ground of the `ini` npm package and Python's configparser, which other
// modules' tools use on the same file):
// - blank lines and whole-line `;` / `#` comments are skipped; a UTF-8 BOM is ignored;
// - `[name]` starts a section (a `;` or `#` comment may follow the `]`); names are exact, so
//   `[Gossip]` is not `[gossip]`; keys before the first section are globals;
// - `key = value`: split at the first `=`, both sides trimmed; an unquoted value ends at the
//   first `;` or `#` (write `\;` / `\#` for the characters themselves); a value in double
//   quotes is read as a JSON string, in single quotes taken literally, and either may be
//   followed by a comment (`"a;b" ; note` is a;b).
// Lines the parser cannot place (a header without `]`, a line without `=` outside other
// modules' sections, control bytes) are errors naming the line; they are never skipped.

export interface IniEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface IniSection {
  readonly name: string;
  readonly line: number;
  readonly entries: IniEntry[];
  /** Lines inside the section that are not `key = value` (only kept for other modules' sections). */
  readonly other: Array<{ readonly text: string; readonly line: number }>;
}

export interface Ini {
  readonly globals: IniEntry[];
  /** In file order; a name may repeat. */
  readonly sections: IniSection[];
  /** Lines that carry anything besides blanks and comments. */
  readonly meaningful: number;
}

/** A syntax error at a line (1-based); `text` is what the line holds. */
export class IniSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = "IniSyntaxError";
  }
}

export interface IniOptions {
  /**
   * Sections whose lines must all be `key = value` (ours); other sections belong to other
   * modules, whose own parsers judge their lines (configparser, e.g., also takes `key: value`).
   */
  readonly strictSections: (name: string) => boolean;
}

/** Longest line shown back in a message. */
const SHOW = 60;

export function parseIni(text: string, o: IniOptions): Ini {
  const globals: IniEntry[] = [];
  const sections: IniSection[] = [];
  let current: IniSection | null = null;
  let meaningful = 0;
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i] ?? "";
    const control = /[\u0000-\u0008\u000b-\u001f\u007f]/.exec(raw);
    if (control) {
      const code = control[0].charCodeAt(0).toString(16).padStart(2, "0");
      throw new IniSyntaxError(n, `control byte 0x${code}: not a text file`);
    }
    const line = raw.trim();
    if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
    meaningful++;
    if (line.startsWith("[")) {
      const m = /^\[([^\]]*)\]\s*(?:[;#].*)?$/.exec(line);
      if (!m) {
        const detail = line.includes("]")
          ? `expected nothing but a comment after the section header, got ${show(line)}`
          : `section header without closing "]", got ${show(line)}`;
        throw new IniSyntaxError(n, detail);
      }
      const name = m[1] ?? "";
      if (name.trim() === "") throw new IniSyntaxError(n, `empty section name, got ${show(line)}`);
      current = { name, line: n, entries: [], other: [] };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf("=");
    const strict = current === null || o.strictSections(current.name);
    if (eq < 0) {
      if (!strict && current !== null) {
        current.other.push({ text: line, line: n });
        continue;
      }
      const where = current === null ? "a global" : `a [${current.name}]`;
      const hint = line.includes(":") ? ` (use "=", not ":")` : "";
      throw new IniSyntaxError(n, `expected ${where} line "key = value"${hint}, got ${show(line)}`);
    }
    const key = line.slice(0, eq).trim();
    if (key === "" && strict) throw new IniSyntaxError(n, `expected a key before "=", got ${show(line)}`);
    const entry = { key, value: value(line.slice(eq + 1)), line: n };
    (current === null ? globals : current.entries).push(entry);
  }
  return { globals, sections, meaningful };
}

/** The value as a program should see it: comments, quotes and escapes removed. */
function value(rawValue: string): string {
  const v = rawValue.trim();
  // A quoted value, optionally followed by a comment: `"a;b" ; note` is a;b.
  const q = /^("(?:[^"\\]|\\.)*"|'[^']*')\s*(?:[;#].*)?$/s.exec(v);
  if (q) return quoted(q[1] ?? "") ?? "";
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i] ?? "";
    if (c === "\\" && i + 1 < v.length && ";#\\".includes(v[i + 1] ?? "")) {
      out += v[++i];
      continue;
    }
    if (c === ";" || c === "#") break;
    out += c;
  }
  return out.trim();
}

function quoted(v: string): string | null {
  if (v.length < 2) return null;
  const q = v[0];
  if ((q !== '"' && q !== "'") || v[v.length - 1] !== q) return null;
  const inner = v.slice(1, -1);
  if (q === "'") return inner;
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === "string" ? parsed : inner;
  } catch {
    return inner;
  }
}

function show(line: string): string {
  return JSON.stringify(line.length > SHOW ? `${line.slice(0, SHOW)}...` : line);
}
