// The test command (`npm test`): typecheck, unit + node tests, build, then the e2e scripts
// against the compiled binary, then the CI set of the multi-host test bed (network
// namespaces, as root: docs/TESTBED.md). Ends with one line `N passed, M failed` for CI.
//
//   npm test -- [--skip-e2e] [--skip-netbed] [bun test filters...]

import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CI_SCENARIOS } from "./netbed/scenarios.ts";

const root = join(import.meta.dir, "..");
const HELP = `usage: npm test -- [--skip-e2e] [--skip-netbed] [FILTER ...]     (or: npx bun scripts/test.ts ...)
  typecheck, bun test, then build dist/gossip, the e2e scripts and the test bed's CI set (as root);
  the last line is "N passed, M failed"
  --skip-e2e       skip the build, e2e and test bed tiers
  --skip-netbed    skip the test bed tier
  FILTER ...       other arguments are bun test file filters (e.g. test/wire): only those test files
                   run, and the build, e2e and test bed tiers are skipped (bun test's own options:
                   npx bun test [options] [FILTER ...], without the summary line)
  -h, --help       this text`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(HELP);
  process.exit(0);
}
// A mistyped flag (--skip-e2) would otherwise count as a filter, match no test file and skip tiers.
const unknown = args.find((a) => a.startsWith("-") && a !== "--skip-e2e" && a !== "--skip-netbed");
if (unknown !== undefined) {
  console.error(`test: unknown option ${JSON.stringify(unknown)}\n${HELP}`);
  process.exit(2);
}
const skipE2e = args.includes("--skip-e2e");
const skipNetbed = args.includes("--skip-netbed");
const filters = args.filter((a) => a !== "--skip-e2e" && a !== "--skip-netbed");
let passed = 0;
let failed = 0;
const failures: string[] = [];

function record(name: string, ok: boolean): void {
  if (ok) passed++;
  else {
    failed++;
    failures.push(name);
  }
  console.log(`${ok ? "PASS" : "FAIL"} ${name}`);
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<number> {
  const p = Bun.spawn(cmd, { cwd: root, stdout: "inherit", stderr: "inherit", env: { ...process.env, ...env } });
  return await p.exited;
}

const bin = join(root, "node_modules", ".bin");

/** The failing test cases of a JUnit report, `file > name: message`, so that CI's last lines say which. */
function failedCases(xml: string): string[] {
  const unescape = (v: string) =>
    v.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
      .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&");
  const attr = (attrs: string, name: string) => unescape(new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1] ?? "");
  const out: string[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const bad = /<(?:failure|error)\b([^>]*)/.exec(m[2] ?? "");
    if (!bad) continue;
    const file = attr(m[1]!, "file") || attr(m[1]!, "classname");
    const message = attr(bad[1]!, "message").replace(/\s+/g, " ").trim().slice(0, 200);
    out.push(`${file} > ${attr(m[1]!, "name")}${message ? `: ${message}` : ""}`);
  }
  return out;
}

console.log("== typecheck");
record("typecheck (tsc --noEmit)", (await run([join(bin, "tsc"), "--noEmit", "-p", "."])) === 0);

console.log("== unit and node tests (bun test)");
const tmp = mkdtempSync(join(tmpdir(), "gossip-test-"));
const junit = join(tmp, "junit.xml");
const code = await run([process.execPath, "test", "--timeout", "30000", "--reporter=junit", `--reporter-outfile=${junit}`, ...filters]);
let counted = false;
try {
  const xml = readFileSync(junit, "utf8");
  const top = /<testsuites[^>]*>/.exec(xml)?.[0] ?? "";
  const num = (attr: string) => Number(new RegExp(`${attr}="(\\d+)"`).exec(top)?.[1] ?? "0");
  const tests = num("tests");
  const bad = num("failures") + num("errors");
  const skipped = num("skipped");
  passed += tests - bad - skipped;
  failed += bad;
  counted = tests > 0;
  if (bad > 0) failures.push(`bun test: ${bad} failed (${failedCases(xml).join(", ")})`);
  console.log(`bun test: ${tests - bad - skipped} passed, ${bad} failed, ${skipped} skipped`);
} catch {
  /* no report: counted below */
}
if (!counted || (code !== 0 && failures.every((f) => !f.startsWith("bun test")))) {
  record("bun test (exit code / report)", false);
}

if (!skipE2e && filters.length === 0) {
  console.log("== build");
  const built = (await run([process.execPath, "build", "--compile", "src/main.ts", "--outfile", "dist/gossip"])) === 0;
  record("build dist/gossip", built);
  const e2eDir = join(root, "test", "e2e");
  for (const f of readdirSync(e2eDir).filter((n) => n.endsWith(".sh")).sort()) {
    console.log(`== e2e ${f}`);
    const ok = built && (await run(["bash", join(e2eDir, f)], { GOSSIP: join(root, "dist", "gossip") })) === 0;
    record(`e2e ${f}`, ok);
  }
  if (!skipNetbed) {
    // One bed per scenario, each recorded on its own; not root or no namespaces is a FAIL.
    for (const name of CI_SCENARIOS) {
      console.log(`== netbed ${name} (--ci)`);
      const ok = built && (await run([process.execPath, join(root, "scripts", "netbed.ts"), name, "--ci"])) === 0;
      record(`netbed ${name} --ci`, ok);
    }
  }
}

rmSync(tmp, { recursive: true, force: true });
if (failures.length > 0) console.log(`failed: ${failures.join("; ")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
