// No config file makes the loader throw anything but a ConfigError: seeded random bytes and
// random INI-shaped text (the pieces users and editors produce, glued at random). A failure
// prints its seed and input, so it replays exactly.

import { expect, test } from "bun:test";
import { ConfigError, parseConfigBytes } from "../../src/config/load.ts";
import { GOSSIP_KEYS } from "../../src/config/schema.ts";
import { mulberry32 } from "../../src/util/prng.ts";

const PIECES = [
  "[", "]", "=", " = ", ";", "#", "\\", '"', "'", "\n", "\r\n", "\r", " ", "\t", "\0", "\uFEFF", "é", "\u{1F600}",
  "[gossip]", "[Gossip]", "[gossip", "[onion]", "[gossip.x]", "[]", "hostkey", "gossip", "onion", "__proto__",
  "constructor", "toString", "key[]", ":", "true", "null", "0", "65535", "-1", "99999999999999999999", "1e3",
  '"\\q"', '"\t"', "'a;b'", '"a;b" ; c', '"\\u00"', "\\;",
  "127.0.0.1:6001", "[::1]:0", "[::1", "host:", ":7001", "a.pem", "/dev/null",
  ...GOSSIP_KEYS.map((k) => k.key),
];

function inputs(seed: number, count: number): Uint8Array[] {
  const rnd = mulberry32(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (rnd() < 0.3) {
      out.push(Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    } else {
      let text = "";
      const n = Math.floor(rnd() * 40);
      for (let j = 0; j < n; j++) text += pick(PIECES);
      const bytes = new TextEncoder().encode(text);
      // Now and then a flipped byte: text that is almost UTF-8.
      if (bytes.length > 0 && rnd() < 0.2) {
        const at = Math.floor(rnd() * bytes.length);
        bytes[at] = bytes[at]! ^ (1 << Math.floor(rnd() * 8));
      }
      out.push(bytes);
    }
  }
  return out;
}

for (const seed of [1, 2, 3, 0x5eed]) {
  test(`seed ${seed}: 3000 random config files raise only ConfigError`, () => {
    let errors = 0;
    for (const bytes of inputs(seed, 3000)) {
      try {
        parseConfigBytes(bytes, "fuzz.ini");
      } catch (e) {
        if (!(e instanceof ConfigError)) {
          throw new Error(`seed ${seed}: ${(e as Error)?.stack ?? String(e)}\ninput (hex): ${Buffer.from(bytes).toString("hex")}`);
        }
        expect(e.message.startsWith("fuzz.ini")).toBe(true);
        errors++;
      }
    }
    // The generator must also produce files that parse, or it tests nothing but the errors.
    expect(errors).toBeGreaterThan(0);
    expect(errors).toBeLessThan(3000);
  });
}
