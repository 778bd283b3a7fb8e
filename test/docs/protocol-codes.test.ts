// docs/PROTOCOL.md calls the codes in peer log lines stable (section 2.3): every code the
// peer side can log must be documented there. The codes are collected from the sources, not
// listed here: every handshake code (HsCode), every violation code of the core (Violation),
// every decode error the p2p path can raise (WireCode.X referenced by its files), and every
// "ERR_..." literal in the files that log about peer links. A new code without a line in
// PROTOCOL.md fails this test.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Violation } from "../../src/core/scores.ts";
import { HsCode } from "../../src/node/handshake.ts";
import { WireCode } from "../../src/wire/errors.ts";

const root = join(import.meta.dir, "..", "..");
const doc = readFileSync(join(root, "docs", "PROTOCOL.md"), "utf8");
const read = (f: string) => readFileSync(join(root, f), "utf8");

/** Files that decode peer input or log about peer links (the API side has docs/API.md). */
const PEER_FILES = [
  "src/wire/p2p.ts",
  "src/wire/frame.ts",
  "src/wire/cursor.ts",
  "src/node/channel.ts",
  "src/node/handshake.ts",
  "src/node/link.ts",
  "src/net/peer-transport.ts",
  "src/net/dial-queue.ts",
  "src/core/membership.ts",
  "src/core/dissemination.ts",
  "src/core/shuffle.ts",
  "src/core/repair.ts",
  "src/core/claims.ts",
  "src/core/peers.ts",
  "src/core/core.ts",
];

function peerCodes(): Set<string> {
  const codes = new Set<string>([...Object.values(HsCode), ...Object.values(Violation)]);
  for (const f of PEER_FILES) {
    const src = read(f);
    for (const m of src.matchAll(/WireCode\.(\w+)/g)) {
      const v = (WireCode as Record<string, string>)[m[1]!];
      expect(v, `${f}: WireCode.${m[1]}`).toBeDefined();
      codes.add(v!);
    }
    for (const m of src.matchAll(/"(ERR_[A-Z_]+)"/g)) codes.add(m[1]!);
  }
  return codes;
}

test("rule: every code the peer side can log is in docs/PROTOCOL.md", () => {
  const codes = peerCodes();
  // The collection itself works: the codes of section 2.3 and 4.2 are among them.
  for (const c of ["ERR_FRAME_TOO_SMALL", "ERR_STATE", "ERR_ITEM_ID", "ERR_HS_VERSION", "ERR_HS_TIMEOUT"]) expect(codes.has(c)).toBe(true);
  const missing = [...codes].filter((c) => !new RegExp(`\\b${c}\\b`).test(doc));
  expect(missing).toEqual([]);
});

test("rule: every handshake code has its row in the table of section 4.5", () => {
  const rows = new Set([...doc.matchAll(/^\| `(ERR_HS_[A-Z_]+)` \|/gm)].map((m) => m[1]!));
  expect([...rows].sort()).toEqual(Object.values(HsCode).slice().sort());
});
