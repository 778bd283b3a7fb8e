import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateHostkey, generateHostkeyPem, hostkeyFromPem, loadHostkey } from "../../src/config/hostkey.ts";
import { ConfigError, MAX_FILE_BYTES } from "../../src/config/load.ts";

let dir = "";
let pem = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gossip-hostkey-"));
  pem = await generateHostkeyPem(1024);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const reasonOf = async (path: string, text?: string): Promise<ConfigError> => {
  if (text !== undefined) await writeFile(path, text);
  const e = await loadHostkey(path, "node1.ini").catch((x: unknown) => x);
  expect(e).toBeInstanceOf(ConfigError);
  return e as ConfigError;
};

describe("hostkeyFromPem", () => {
  test("generated keys are PKCS#1 PEM by default, PKCS#8 on request; both load", async () => {
    expect(pem.startsWith("-----BEGIN RSA PRIVATE KEY-----")).toBe(true);
    const pkcs8 = await generateHostkeyPem(1024, "pkcs8");
    expect(pkcs8.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
    expect(hostkeyFromPem(pkcs8).bits).toBe(1024);
    expect(hostkeyFromPem(pem).bits).toBe(1024);
  });

  test("identity is SHA-256 of the SPKI DER public key", () => {
    const key = hostkeyFromPem(pem);
    expect(key.bits).toBe(1024);
    expect(key.id.length).toBe(32);
    expect(key.id).toEqual(new Uint8Array(createHash("sha256").update(key.publicKeyDer).digest()));
    expect(key.idHex).toBe(Buffer.from(key.id).toString("hex"));
    expect(key.publicKeyDer[0]).toBe(0x30); // DER SEQUENCE
  });

  test("PKCS#1 and PKCS#8 encodings of one key give one identity", () => {
    const pkcs8 = createPrivateKey(pem).export({ type: "pkcs8", format: "pem" }).toString();
    expect(pkcs8.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
    expect(hostkeyFromPem(pkcs8).idHex).toBe(hostkeyFromPem(pem).idHex);
  });

  test("generateHostkey makes distinct identities", async () => {
    const [a, b] = await Promise.all([generateHostkey(1024), generateHostkey(1024)]);
    expect(a.idHex).not.toBe(b.idHex);
    expect(a.idHex).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("loadHostkey errors name the config, the line, the key, the path and (for a missing file) the fix", () => {
  const fix = (path: string) => `(create one with: gossip config keygen --out ${path})`;

  test("loads a good key", async () => {
    const path = join(dir, "good.pem");
    await writeFile(path, pem, { mode: 0o600 });
    const warnings: string[] = [];
    expect((await loadHostkey(path, "node1.ini", (w) => warnings.push(w))).idHex).toBe(hostkeyFromPem(pem).idHex);
    expect(warnings).toEqual([]);
  });

  for (const mode of [0o640, 0o604, 0o620]) {
    test(`a key file with mode 0${mode.toString(8)} loads with a warning`, async () => {
      const path = join(dir, `open-${mode.toString(8)}.pem`);
      await writeFile(path, pem);
      await chmod(path, mode);
      const warnings: string[] = [];
      await loadHostkey(path, "node1.ini", (w) => warnings.push(w));
      expect(warnings).toEqual([
        `node1.ini [global] hostkey: "${path}" is readable or writable by group or others (mode 0${mode.toString(8)}); ` +
          `restrict it: chmod 600 ${path}`,
      ]);
    });
  }

  test("a file too large to be a key is refused", async () => {
    const path = join(dir, "huge.pem");
    await writeFile(path, Buffer.alloc(MAX_FILE_BYTES + 1, 0x41));
    const e = await reasonOf(path);
    expect(e.message).toBe(`node1.ini [global] hostkey: cannot read "${path}": larger than 1 MiB, not a config or key file (EFBIG)`);
  });

  test("missing file", async () => {
    const path = join(dir, "missing.pem");
    const e = await reasonOf(path);
    expect(e.message).toBe(`node1.ini [global] hostkey: cannot read "${path}": no such file (ENOENT) ${fix(path)}`);
    expect([e.section, e.key, e.code]).toEqual(["global", "hostkey", "ERR_CONFIG"]);
  });

  test("the line of the hostkey key is named when given", async () => {
    const path = join(dir, "missing.pem");
    const e = (await loadHostkey(path, "node1.ini", () => {}, 3).catch((x: unknown) => x)) as ConfigError;
    expect(e.message).toBe(`node1.ini line 3 [global] hostkey: cannot read "${path}": no such file (ENOENT) ${fix(path)}`);
    expect([e.line, e.detail]).toEqual([3, `cannot read "${path}": no such file (ENOENT) ${fix(path)}`]);
    const text = join(dir, "passwd");
    await writeFile(text, "root:x:0:0:root:/root:/bin/sh\n");
    const t = (await loadHostkey(text, "node1.ini", () => {}, 1).catch((x: unknown) => x)) as ConfigError;
    expect(t.message).toBe(`node1.ini line 1 [global] hostkey: "${text}": not a PEM private key`);
  });

  test("no keygen hint where keygen could not write: a missing directory", async () => {
    const path = join(dir, "no-such-dir", "k.pem");
    const e = await reasonOf(path);
    expect(e.message).toBe(`node1.ini [global] hostkey: cannot read "${path}": no such file (ENOENT)`);
  });

  test("unreadable (a directory)", async () => {
    const e = await reasonOf(dir);
    expect(e.message).toBe(`node1.ini [global] hostkey: cannot read "${dir}": is a directory (EISDIR)`);
  });

  test("without a config file it says <defaults>", async () => {
    const path = join(dir, "missing.pem");
    const e = await loadHostkey(path, null).then(
      () => new Error("expected a rejection"),
      (x: unknown) => x as Error,
    );
    expect(e.message.startsWith("<defaults> [global] hostkey: ")).toBe(true);
  });

  const bad: [string, () => string, string][] = [
    ["text.pem", () => "hello\n", "not a PEM private key"],
    ["binary.pem", () => "\u0000\u0089PNG\r\n\u001a\n\u00ff", "not a PEM private key"],
    ["garbage.pem", () => "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid PEM private key"],
    ["public.pem", () => rsaPem(1024, "public"), "a public key, not a private key"],
    ["small.pem", () => rsaPem(512, "private"), "RSA key too small (512 bits, at least 1024)"],
    [
      "ec.pem",
      () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      "not an RSA key (ec)",
    ],
    [
      "ed.pem",
      () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      "not an RSA key (ed25519)",
    ],
    [
      "encrypted.pem",
      () =>
        createPrivateKey(pem).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "x" }).toString(),
      "an encrypted key (passphrases are not supported)",
    ],
  ];
  for (const [name, make, reason] of bad) {
    test(`${name}: ${reason}`, async () => {
      const path = join(dir, name);
      const e = await reasonOf(path, make());
      expect(e.message.startsWith(`node1.ini [global] hostkey: "${path}": ${reason}`)).toBe(true);
      // The file exists: keygen would refuse it (or, with --force, overwrite it). No such hint.
      expect(e.message).not.toContain("keygen");
    });
  }

  function rsaPem(bits: number, part: "public" | "private"): string {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
    return part === "public"
      ? publicKey.export({ type: "spki", format: "pem" }).toString()
      : privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  }
});
