import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { nodeIni, writeNetwork } from "../../src/config/generate.ts";
import { loadHostkey } from "../../src/config/hostkey.ts";
import { ConfigError, loadConfig, parseConfig } from "../../src/config/load.ts";

describe("nodeIni", () => {
  test("round-trips through parseConfig without warnings", () => {
    const text = nodeIni({
      hostkey: "node2.pem",
      p2p: "[::1]:6002",
      api: "127.0.0.1:7002",
      bootstrapper: "127.0.0.1:6001",
      degree: 3,
      extra: { ttl_cap: "8", log_level: "debug" },
    });
    const { config, warnings } = parseConfig(text, "/n/node2.ini");
    expect(warnings).toEqual([]);
    expect(config.hostkey).toBe("/n/node2.pem");
    expect(config.p2pAddress).toEqual({ host: "::1", port: 6002 });
    expect(config.bootstrappers).toEqual([{ host: "127.0.0.1", port: 6001 }]);
    expect([config.degree, config.ttlCap, config.logLevel, config.cacheSize]).toEqual([3, 8, "debug", 50]);
    expect(text).toContain("\n[gossip]\n");
    expect(text).toContain("\nttl_cap = 8\n");
    expect(text).toContain(";suppress_s = 300\n"); // unset own keys are shown commented out
  });

  test("without hostkey or bootstrapper both stay absent", () => {
    const { config } = parseConfig(nodeIni({ p2p: "127.0.0.1:6001", api: "127.0.0.1:7001" }), "x.ini");
    expect(config.hostkey).toBeNull();
    expect(config.bootstrappers).toEqual([]);
  });

  test("keys without a default are shown commented out with a placeholder of their kind", () => {
    const text = nodeIni({ p2p: "127.0.0.1:6001", api: "127.0.0.1:7001" });
    expect(text).toContain("\n;admin_address = HOST:PORT\n");
    expect(text).toContain("\n;state_dir = PATH\n");
  });

  test("values ini would cut or unescape are quoted", () => {
    const text = nodeIni({ hostkey: "keys/a#1;x\\y.pem", p2p: "127.0.0.1:1", api: "127.0.0.1:2" });
    expect(parseConfig(text, "/d/c.ini").config.hostkey).toBe("/d/keys/a#1;x\\y.pem");
  });

  test("unknown extras are written (and warned about by the parser)", () => {
    const text = nodeIni({ p2p: "127.0.0.1:1", api: "127.0.0.1:2", extra: { future_key: "1" } });
    const line = text.split("\n").indexOf("future_key = 1") + 1;
    expect(parseConfig(text, "c.ini").warnings).toEqual([`c.ini line ${line} [gossip] future_key: unknown key (ignored)`]);
  });

  test("refuses values that would break the INI line structure", () => {
    expect(() => nodeIni({ p2p: "127.0.0.1:1", api: "127.0.0.1:2", extra: { degree: "1\n[x]" } })).toThrow("cannot write");
  });
});

describe("writeNetwork", () => {
  let root = "";
  let dir = "";
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "gossip-gen-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const fresh = async (): Promise<string> => {
    const d = join(root, `t${++n}`);
    await mkdir(d);
    return d;
  };

  test("writes N configs and keys in the documented layout", async () => {
    dir = join(root, "net"); // not created yet: writeNetwork must create it
    const nodes = await writeNetwork({ nodes: 3, dir, basePort: 16001, bits: 1024 });
    expect(nodes.map((n) => [n.name, n.p2p, n.api, n.configPath])).toEqual([
      ["node1", "127.0.0.1:16001", "127.0.0.1:17001", join(dir, "node1.ini")],
      ["node2", "127.0.0.1:16002", "127.0.0.1:17002", join(dir, "node2.ini")],
      ["node3", "127.0.0.1:16003", "127.0.0.1:17003", join(dir, "node3.ini")],
    ]);
    for (const [i, n] of nodes.entries()) {
      const { config, warnings } = await loadConfig(n.configPath);
      expect(warnings).toEqual([]);
      expect(config.degree).toBe(2); // min(30, nodes - 1)
      expect(config.hostkey).toBe(join(dir, `${n.name}.pem`));
      expect(config.bootstrappers).toEqual(i === 0 ? [] : [{ host: "127.0.0.1", port: 16001 }]);
      expect((await stat(n.hostkeyPath)).mode & 0o777).toBe(0o600);
      expect((await loadHostkey(n.hostkeyPath, n.configPath)).idHex).toBe(n.idHex);
      // An absolute path, so other modules sharing the file find the key from any directory.
      expect(await readFile(n.configPath, "utf8")).toContain(`hostkey = ${join(dir, `${n.name}.pem`)}\n`);
      expect(await readFile(n.hostkeyPath, "utf8")).toStartWith("-----BEGIN RSA PRIVATE KEY-----");
    }
    expect(new Set(nodes.map((n) => n.idHex)).size).toBe(3);
  });

  test("a relative --dir still gives absolute hostkey paths; keys may be PKCS#8", async () => {
    const d = await fresh();
    const rel = relative(process.cwd(), d);
    const [only] = await writeNetwork({ nodes: 1, dir: rel, bits: 1024, format: "pkcs8" });
    expect(await readFile(only!.configPath, "utf8")).toContain(`hostkey = ${join(d, "node1.pem")}\n`);
    expect(await readFile(only!.hostkeyPath, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
  });

  test("one node: degree 1, no bootstrapper; extras apply and override degree", async () => {
    dir = await fresh();
    const [only] = await writeNetwork({ nodes: 1, dir, bits: 1024, extra: { pow_bits: "2" } });
    const { config } = await loadConfig(only?.configPath ?? "");
    expect([config.degree, config.powBits, config.bootstrappers]).toEqual([1, 2, []]);
    const [first] = await writeNetwork({ nodes: 1, dir, bits: 1024, extra: { degree: "5" }, force: true });
    expect((await loadConfig(first?.configPath ?? "")).config.degree).toBe(5);
  });

  test("refuses existing files before generating anything, unless force", async () => {
    dir = await fresh();
    await writeFile(join(dir, "node2.pem"), "keep me");
    await expect(writeNetwork({ nodes: 2, dir, bits: 1024 })).rejects.toThrow(
      `${join(dir, "node2.pem")} already exists (pass --force to overwrite)`,
    );
    expect(await readFile(join(dir, "node2.pem"), "utf8")).toBe("keep me");
    await expect(stat(join(dir, "node1.pem"))).rejects.toThrow();
    await writeNetwork({ nodes: 2, dir, bits: 1024, force: true });
    expect((await stat(join(dir, "node2.pem"))).mode & 0o777).toBe(0o600);
  });

  test("bad extras are ConfigErrors; bad sizes are RangeErrors", async () => {
    dir = await fresh();
    await expect(writeNetwork({ nodes: 2, dir, bits: 1024, extra: { degree: "x" } })).rejects.toBeInstanceOf(ConfigError);
    await expect(writeNetwork({ nodes: 0, dir })).rejects.toBeInstanceOf(RangeError);
    // One listener address copied into every node would make node 2 fail to bind.
    await expect(writeNetwork({ nodes: 2, dir, bits: 1024, extra: { admin_address: "127.0.0.1:9001" } })).rejects.toThrow(
      "admin_address differs per node; it cannot be one extra key for every node",
    );
    await expect(writeNetwork({ nodes: 2, dir, basePort: 16001, adminBasePort: 16002 })).rejects.toThrow(
      "admin base port 16002: ports 16002-16003 overlap the p2p ports 16001-16002",
    );
    await expect(writeNetwork({ nodes: 2, dir, basePort: 64535 })).rejects.toBeInstanceOf(RangeError);
  });
});
