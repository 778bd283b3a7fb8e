// The README is the user's first reference: every config key with its real default, links
// that work in a fresh clone, and commands that run as printed after `npm ci` (bun is a dev
// dependency, not on the PATH: `npx bun ...` or an npm script).

import { expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { GOSSIP_KEYS } from "../../src/config/schema.ts";

const root = join(import.meta.dir, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
/** Documents we own that a fresh clone shows to users: the README and every docs/*.md. */
const DOCS = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];

/** The README's configuration table: its header line through the last row. */
function readmeConfigTable(): string[] {
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => l.startsWith("| key | default | range | from | meaning |"));
  expect(start, "README has the configuration table").toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  return lines.slice(start, end < 0 ? undefined : end);
}

test("README's configuration table is exactly what scripts/config-table.ts prints (every row, every column)", () => {
  const run = Bun.spawnSync([process.execPath, join(root, "scripts", "config-table.ts")], { timeout: 10_000 });
  expect([run.exitCode, run.stderr.toString()]).toEqual([0, ""]);
  const generated = run.stdout.toString().trimEnd().split("\n");
  expect(generated.length).toBe(GOSSIP_KEYS.length + 2);
  expect(readmeConfigTable()).toEqual(generated);
  expect(readme).toContain("generated from `src/config/schema.ts` by `npx bun scripts/config-table.ts`");
});

test("README documents every [gossip] key with its default", () => {
  const rows = readmeConfigTable();
  for (const k of GOSSIP_KEYS) {
    const row = rows.find((l) => l.startsWith(`| \`${k.key}\` |`));
    expect(row, `README row for ${k.key}`).toBeDefined();
    expect(row!.split("|")[2]!.trim()).toBe(k.default ?? "(absent)");
  }
});

/** GitHub's anchor for a heading: lower case, no punctuation (letters, digits, -, _ and spaces stay), spaces to -. */
function headingSlug(heading: string): string {
  return heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/ /g, "-");
}

test("BENCHMARKS.md's intro links the newest section as the first one (newest first)", () => {
  const text = readFileSync(join(root, "docs", "BENCHMARKS.md"), "utf8");
  const sections = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
  const first = sections[sections.indexOf("Summary") + 1]!;
  expect(/\[the first section\]\(#([^)]+)\)/.exec(text)?.[1]).toBe(headingSlug(first));
});

/** Markdown link targets, without web links and in-page anchors. */
function localLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith("#"))
    .map((t) => t.replace(/#.*$/, ""));
}

for (const doc of DOCS) {
  test(`${doc}: every link points to a file inside the repo`, () => {
    const text = readFileSync(join(root, doc), "utf8");
    const links = localLinks(text);
    if (doc === "README.md") expect(links).toContain("docs/API.md");
    for (const link of links) {
      const target = resolve(dirname(join(root, doc)), link);
      const inside = relative(root, target);
      expect(inside.startsWith("..") || inside === "", `${doc} links outside the repo: ${link}`).toBe(false);
      expect(existsSync(target), `${doc} links to a missing file: ${link}`).toBe(true);
    }
  });

  test(`${doc}: every in-page link (#anchor) names a heading of the page`, () => {
    const text = readFileSync(join(root, doc), "utf8");
    const anchors = new Set<string>();
    for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
      const slug = headingSlug(m[1]!);
      let unique = slug;
      for (let k = 1; anchors.has(unique); k++) unique = `${slug}-${k}`;
      anchors.add(unique);
    }
    const broken = [...text.matchAll(/\]\(#([^)\s]+)\)/g)].map((m) => m[1]!).filter((a) => !anchors.has(a));
    expect(broken).toEqual([]);
  });

  test(`${doc}: no paths of a developer's machine`, () => {
    const text = readFileSync(join(root, doc), "utf8");
    for (const path of ["/work/", "../shared", "/home/", "/root/", "/Users/"]) {
      expect(text.includes(path), `${doc} mentions ${path}`).toBe(false);
    }
  });

  test(`${doc}: recorded figures name their commit by hash, not as "this commit"`, () => {
    // "the commit that adds this sentence" means nothing once the text is read at a later commit.
    const text = readFileSync(join(root, doc), "utf8").replace(/\s+/g, " ");
    const vague = [...text.matchAll(/the commit that adds this \w+|\bthis commit\b/gi)].map((m) => m[0]);
    expect(vague).toEqual([]);
  });

  test(`${doc}: commands name no branch (a clone's default branch need not be main)`, () => {
    const text = readFileSync(join(root, doc), "utf8");
    expect([...text.matchAll(/\b(?:origin\/)?main(?::|\.\.)|git (?:checkout|switch) main\b/g)].map((m) => m[0])).toEqual([]);
  });

  test(`${doc}: bun is only run through npx (it is not on the PATH after npm ci)`, () => {
    const text = readFileSync(join(root, doc), "utf8");
    const bare = [...text.matchAll(/(?<!npx )\bbun (?=[\w./-])/g)].map((m) => text.slice(m.index, m.index + 40).split("\n")[0]);
    expect(bare).toEqual([]);
  });
}

test("the demo's --help prints its options and starts nothing; a bad option is a usage error", async () => {
  const demo = (...args: string[]) => Bun.spawnSync([process.execPath, join(root, "scripts", "demo.ts"), ...args]);
  const help = demo("--help");
  expect(help.exitCode).toBe(0);
  const out = help.stdout.toString();
  expect(out).toStartWith("Usage: npm run demo -- [options]");
  for (const option of ["--nodes", "--base-port", "--keep"]) expect(out).toContain(option);
  expect(out).not.toContain("demo: ");
  const bad = demo("--nodes", "many");
  expect([bad.exitCode, bad.stdout.toString()]).toEqual([2, ""]);
  expect(bad.stderr.toString()).toStartWith(`demo: --nodes: expected an integer 2-50, got "many"`);
});
