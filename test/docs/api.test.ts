// docs/API.md cannot drift from the code: every line of its ```hex blocks is decoded with
// src/wire/api.ts (through the frame decoder a node uses) and must mean what its comment
// says; good messages also encode back to the same bytes (reserved bits aside); rejected ones
// must fail with the named error code. The limits table must match the config schema.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GOSSIP_KEYS } from "../../src/config/schema.ts";
import { API_FRAME, decodeApi, decodeModuleMessage, encodeApi, MAX_API_DATA, type ApiMessage } from "../../src/wire/api.ts";
import { fromHex, toHex } from "../../src/wire/bytes.ts";
import { isWireError } from "../../src/wire/errors.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";

const doc = readFileSync(join(import.meta.dir, "..", "..", "docs", "API.md"), "utf8");

interface Example {
  readonly hex: string;
  readonly meaning: string;
}

function examples(): Example[] {
  const out: Example[] = [];
  for (const block of doc.matchAll(/^```hex\n([\s\S]*?)^```$/gm)) {
    for (const line of (block[1] ?? "").split("\n")) {
      if (line.trim() === "") continue;
      const m = /^([0-9a-f][0-9a-f ]*?)\s+# (.+)$/.exec(line);
      if (!m) throw new Error(`docs/API.md: a hex example line that does not read "<hex> # <meaning>": ${line}`);
      out.push({ hex: m[1]!, meaning: m[2]! });
    }
  }
  return out;
}

/** `ANNOUNCE ttl=4 type=1337 data=deadbeef` -> the message it names. */
function expected(meaning: string): ApiMessage {
  const [kind, ...fields] = meaning.split(" ");
  const f = Object.fromEntries(fields.map((x) => x.split("=") as [string, string]));
  const num = (k: string) => {
    expect(f[k], `${meaning}: field ${k}`).toMatch(/^\d+$/);
    return Number(f[k]);
  };
  switch (kind) {
    case "ANNOUNCE":
      return { kind: "announce", ttl: num("ttl"), dataType: num("type"), data: fromHex(f.data ?? "?") };
    case "NOTIFY":
      return { kind: "notify", dataType: num("type") };
    case "NOTIFICATION":
      return { kind: "notification", id: num("id"), dataType: num("type"), data: fromHex(f.data ?? "?") };
    case "VALIDATION":
      expect(["true", "false"]).toContain(f.valid!);
      return { kind: "validation", id: num("id"), valid: f.valid === "true" };
    default:
      throw new Error(`docs/API.md: unknown message in example: ${meaning}`);
  }
}

/** Byte offsets that are reserved (ignored on decode, zero on encode), per message kind. */
const RESERVED: Record<ApiMessage["kind"], (i: number, byte: number, ours: number) => boolean> = {
  announce: (i) => i === 5,
  notify: (i) => i === 4 || i === 5,
  notification: () => false,
  // Bits 15..1 of the last u16; bit 0 is V and must match.
  validation: (i, byte, ours) => i === 6 || (i === 7 && (byte & 1) === (ours & 1)),
};

/** What a node does with these bytes: frames, then decodes (module messages only if `module`). */
function read(bytes: Uint8Array, module: boolean): ApiMessage[] {
  const frames = new FrameDecoder(API_FRAME).push(bytes);
  return frames.map((f) => (module ? decodeModuleMessage(f) : decodeApi(f)));
}

const all = examples();
const good = all.filter((e) => !e.meaning.startsWith("rejected "));
const bad = all.filter((e) => e.meaning.startsWith("rejected "));

test("the doc has examples of every message and of bad input", () => {
  const kinds = new Set(good.map((e) => e.meaning.split(" ")[0]));
  expect([...kinds].sort()).toEqual(["ANNOUNCE", "NOTIFICATION", "NOTIFY", "VALIDATION"]);
  expect(bad.length).toBeGreaterThanOrEqual(5);
});

describe("good examples decode to what they say, and encode back", () => {
  for (const e of good) {
    test(`${e.hex}  # ${e.meaning}`, () => {
      const bytes = fromHex(e.hex);
      const want = expected(e.meaning);
      // Modules send everything but NOTIFICATION; Gossip must accept those as a module's.
      const got = read(bytes, want.kind !== "notification");
      expect(got).toEqual([want]);
      const ours = encodeApi(want);
      expect(ours.byteLength).toBe(bytes.byteLength);
      for (let i = 0; i < bytes.byteLength; i++) {
        if (ours[i] === bytes[i]) continue;
        expect(RESERVED[want.kind](i, bytes[i]!, ours[i]!), `byte ${i} of ${e.hex} (ours ${toHex(ours)})`).toBe(true);
      }
    });
  }
});

describe("rejected examples fail with the code the doc names", () => {
  for (const e of bad) {
    test(`${e.hex}  # ${e.meaning}`, () => {
      const code = e.meaning.slice("rejected ".length);
      let thrown: unknown = null;
      try {
        read(fromHex(e.hex), true);
      } catch (x) {
        thrown = x;
      }
      expect(isWireError(thrown), `${e.hex} must be rejected`).toBe(true);
      expect((thrown as { code: string }).code).toBe(code);
    });
  }
});

test("the size bound and the limits table match the code", () => {
  expect(doc).toContain(`**${MAX_API_DATA} bytes**`);
  const rows = doc.split("\n").filter((l) => /^\| `[a-z_]+` \| /.test(l));
  expect(rows.length).toBeGreaterThanOrEqual(5);
  for (const row of rows) {
    const [, key, def] = /^\| `([a-z_]+)` \| ([^|]+) \|/.exec(row)!;
    const spec = GOSSIP_KEYS.find((k) => k.key === key);
    expect(spec, `docs/API.md names [gossip] ${key}`).toBeDefined();
    expect([key, def!.trim()]).toEqual([key, spec!.default ?? "(absent)"]);
  }
});
