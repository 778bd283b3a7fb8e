// The peer's RSA hostkey (global `hostkey` in the shared VoidPhone config). Identity, as the
// spec defines it: SHA-256 of the public key, which we take in its SPKI DER encoding.
//
// We read both PEM encodings of an RSA private key: PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`,
// `openssl genrsa -traditional`) and PKCS#8 (`-----BEGIN PRIVATE KEY-----`, `openssl genpkey`).
// Keys we generate are PKCS#1 unless asked otherwise (`--format pkcs8`): the hostkey is global,
// shared by every module of the peer, and the VoidPhone course's Java and Python module tools
// read only PKCS#1. OpenSSL, Python's cryptography, Go and Bouncy Castle read both; a module
// that uses the JDK alone reads only PKCS#8 and wants `--format pkcs8`.

import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { toHex } from "../wire/bytes.ts";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ConfigError, osReason, readSmallFile } from "./load.ts";

export interface Hostkey {
  readonly privateKey: KeyObject;
  /** Public key, SPKI DER. */
  readonly publicKeyDer: Uint8Array;
  /** SHA-256 of publicKeyDer (32 bytes): the peer identity. */
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly bits: number;
}

/** Smallest modulus accepted; tests use it for speed. */
export const MIN_HOSTKEY_BITS = 1024;
export const DEFAULT_HOSTKEY_BITS = 4096;

export const HOSTKEY_FORMATS = ["pkcs1", "pkcs8"] as const;
export type HostkeyFormat = (typeof HOSTKEY_FORMATS)[number];
export const DEFAULT_HOSTKEY_FORMAT: HostkeyFormat = "pkcs1";

/** Builds the identity from a PEM private key; throws an Error whose message is the reason. */
export function hostkeyFromPem(pem: string): Hostkey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new Error(pemReason(pem, e));
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw new Error(`not an RSA key (${privateKey.asymmetricKeyType ?? "unknown type"})`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_HOSTKEY_BITS) throw new Error(`RSA key too small (${bits} bits, at least ${MIN_HOSTKEY_BITS})`);
  const publicKeyDer = new Uint8Array(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
  const id = new Uint8Array(createHash("sha256").update(publicKeyDer).digest());
  return { privateKey, publicKeyDer, id, idHex: toHex(id), bits };
}

/**
 * Loads the hostkey named by a config (`line`: where the config sets it); errors name the
 * config, the line, the key path and, when there is no such file, how to make one.
 * A key file that group or others may read is loaded, with a warning through `warn`.
 */
export async function loadHostkey(
  path: string,
  configFile: string | null,
  warn: (message: string) => void = () => {},
  line: number | null = null,
): Promise<Hostkey> {
  const where = `${configFile ?? "<defaults>"}${line === null ? "" : ` line ${line}`} [global] hostkey`;
  const fail = (detail: string) => new ConfigError(`${where}: ${detail}`, "global", "hostkey", detail, line);
  let file: { bytes: Uint8Array; mode: number };
  try {
    file = await readSmallFile(path);
  } catch (e) {
    // keygen only helps where it can write: not over an existing file (it would refuse, or
    // with --force overwrite it), not in a directory that does not exist.
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT" && (await isDirectory(dirname(path)));
    const fix = missing ? ` (create one with: gossip config keygen --out ${path})` : "";
    throw fail(`cannot read ${JSON.stringify(path)}: ${osReason(e)}${fix}`);
  }
  let key: Hostkey;
  try {
    key = hostkeyFromPem(new TextDecoder().decode(file.bytes));
  } catch (e) {
    throw fail(`${JSON.stringify(path)}: ${(e as Error).message}`);
  }
  const mode = file.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    const octal = mode.toString(8).padStart(4, "0");
    warn(`${where}: ${JSON.stringify(path)} is readable or writable by group or others (mode ${octal}); restrict it: chmod 600 ${path}`);
  }
  return key;
}

/** A new RSA key as PEM (PKCS#1 by default). Async so a 4096-bit key does not block the event loop. */
export function generateHostkeyPem(bits = DEFAULT_HOSTKEY_BITS, format: HostkeyFormat = DEFAULT_HOSTKEY_FORMAT): Promise<string> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      "rsa",
      {
        modulusLength: bits,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: format, format: "pem" },
      },
      (err, _publicKey, privateKey) => (err ? reject(err) : resolve(privateKey)),
    );
  });
}

export async function generateHostkey(bits = DEFAULT_HOSTKEY_BITS): Promise<Hostkey> {
  return hostkeyFromPem(await generateHostkeyPem(bits));
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

function pemReason(pem: string, e: unknown): string {
  if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) return "a public key, not a private key";
  if (pem.includes("-----BEGIN CERTIFICATE-----")) return "a certificate, not a private key";
  if ((e as NodeJS.ErrnoException)?.code === "ERR_MISSING_PASSPHRASE" || pem.includes("ENCRYPTED")) {
    return "an encrypted key (passphrases are not supported)";
  }
  if (!pem.includes("-----BEGIN")) return "not a PEM private key";
  return `not a valid PEM private key (${(e as Error)?.message ?? String(e)})`;
}
