// The protocol core sees time, randomness and neighbours only through its seams (issue 8):
// no file under src/core imports Bun, node:*, sockets or the node's IO layers, or reads the
// global clock, timers or Math.random. The same rule for what the core imports from util/.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..", "src");
const coreFiles = readdirSync(join(root, "core")).filter((f) => f.endsWith(".ts")).map((f) => join("core", f));

/** What may not appear in core code (comments stripped). */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/from\s+["']bun["']|\bBun\./, "Bun"],
  [/from\s+["']node:/, "node:* modules"],
  [/from\s+["'][^"']*\/(net|node|cli|sim)\//, "the IO layers (net/, node/, cli/) or the simulator"],
  [/\bperformance\.now\b|\bDate\.now\b|\bnew Date\b/, "the global clock"],
  [/\bsetTimeout\b|\bsetInterval\b|\bqueueMicrotask\b|\bsetImmediate\b/, "global timers"],
  [/\bMath\.random\b|\bcrypto\.|\bgetRandomValues\b/, "global randomness"],
  [/\bBuffer\b|\bprocess\./, "Node globals"],
];

function code(file: string): string {
  // Comments may name what the code must not use.
  return readFileSync(join(root, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1");
}

/** Violations in one file's code. */
export function violations(text: string): string[] {
  return FORBIDDEN.filter(([re]) => re.test(text)).map(([, what]) => what);
}

/** Relative imports of a core file that leave src/core. */
function outside(file: string): string[] {
  return [...code(file).matchAll(/from\s+["'](\.\.\/[^"']+)["']/g)].map((m) => m[1]!);
}

describe("the protocol core is free of IO", () => {
  test("there are core files to check", () => {
    expect(coreFiles.length).toBeGreaterThanOrEqual(8);
  });

  for (const f of coreFiles) {
    test(`rule: ${f} uses only its seams`, () => {
      expect(violations(code(f))).toEqual([]);
    });
  }

  test("rule: what the core imports from outside src/core is as clean (util, wire, config types)", () => {
    const reached = new Set<string>();
    for (const f of coreFiles) for (const imp of outside(f)) reached.add(join("core", imp).replace(/^[^/]+\/\.\.\//, ""));
    expect(reached.size).toBeGreaterThan(0);
    for (const f of reached) {
      if (f === "util/log.ts") continue; // the logger writes lines; it decides nothing
      const text = code(f);
      // Type-only imports of config/schema.ts are erased at build time.
      expect([f, violations(text)]).toEqual([f, []]);
    }
  });

  test("the check itself catches each kind of violation", () => {
    const samples = [
      'import { connect } from "bun";',
      'import { randomBytes } from "node:crypto";',
      'import { listen } from "../net/tcp.ts";',
      "const t = performance.now();",
      "setTimeout(() => {}, 1);",
      "const r = Math.random();",
      "Buffer.from(x);",
    ];
    for (const s of samples) expect([s, violations(s).length]).toEqual([s, 1]);
  });
});
