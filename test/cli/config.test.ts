import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { hostkeyFromPem } from "../../src/config/hostkey.ts";
import { parseConfig } from "../../src/config/load.ts";
import { runGossip } from "../helpers/cli.ts";

const gossip = (...args: string[]) => runGossip(args);

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gossip-cli-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("gossip config keygen", () => {
  test("writes a 0600 PKCS#1 key and prints its identity", async () => {
    const out = join(dir, "k1.pem");
    const r = await gossip("config", "keygen", "--out", out, "--bits", "1024");
    expect(r.code).toBe(0);
    const pem = await readFile(out, "utf8");
    expect(pem.startsWith("-----BEGIN RSA PRIVATE KEY-----")).toBe(true);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(r.out).toEqual([`id=${hostkeyFromPem(pem).idHex} file=${out}`]);
  });

  test("--format pkcs8 | pkcs1 picks the PEM encoding; config check reads both", async () => {
    for (const [format, begin] of [["pkcs8", "-----BEGIN PRIVATE KEY-----"], ["pkcs1", "-----BEGIN RSA PRIVATE KEY-----"]]) {
      const out = join(dir, `f-${format}.pem`);
      const r = await gossip("config", "keygen", "--out", out, "--bits", "1024", "--format", format!);
      expect(r.code).toBe(0);
      expect(await readFile(out, "utf8")).toStartWith(begin!);
      const ini = join(dir, `f-${format}.ini`);
      await writeFile(ini, `hostkey = ${out}\n[gossip]\n`);
      const c = await gossip("config", "check", "-c", ini);
      expect([c.code, c.err, c.out[0]?.split(" ")[1]]).toEqual([0, [], r.out[0]?.split(" ")[0]]);
    }
    const bad = await gossip("config", "keygen", "--out", join(dir, "f.pem"), "--format", "der");
    expect([bad.code, bad.err]).toEqual([2, [`gossip: --format: expected one of pkcs1, pkcs8, got "der"`]]);
  });

  test("refuses to overwrite unless --force (a usage error)", async () => {
    const out = join(dir, "k2.pem");
    await writeFile(out, "keep");
    const r = await gossip("config", "keygen", "--out", out, "--bits", "1024");
    expect(r.code).toBe(2);
    expect(r.err).toEqual([`gossip: ${out} already exists (pass --force to overwrite)`]);
    expect(await readFile(out, "utf8")).toBe("keep");
    const forced = await gossip("config", "keygen", "--out", out, "--bits", "1024", "--force");
    expect(forced.code).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  test("--out is checked before the key is generated (no wait for an 8192-bit key that cannot be written)", async () => {
    const exists = join(dir, "exists.pem");
    await writeFile(exists, "keep");
    const nodir = join(dir, "nodir", "k.pem");
    const cases: [string, number, string][] = [
      [exists, 2, `gossip: ${exists} already exists (pass --force to overwrite)`],
      [nodir, 1, `gossip: cannot write ${nodir}: no such file (ENOENT)`],
      [dir, 1, `gossip: cannot write ${dir}: is a directory (EISDIR)`],
      [join(exists, "k.pem"), 1, `gossip: cannot write ${join(exists, "k.pem")}: a parent is not a directory (ENOTDIR)`],
    ];
    for (const [out, code, message] of cases) {
      const t0 = performance.now();
      const r = await gossip("config", "keygen", "--out", out, "--bits", "8192");
      expect([r.code, r.err]).toEqual([code, [message]]);
      expect(performance.now() - t0).toBeLessThan(1000); // an 8192-bit key takes seconds
    }
    expect(await readFile(exists, "utf8")).toBe("keep");
  });

  test("bad --bits is a usage error; an unwritable path a failure", async () => {
    const bits = await gossip("config", "keygen", "--out", join(dir, "k3.pem"), "--bits", "512");
    expect([bits.code, bits.err]).toEqual([2, [`gossip: --bits: expected an integer 1024-16384, got "512"`]]);
    const missing = await gossip("config", "keygen", "--bits", "1024");
    expect(missing.code).toBe(2);
    const nodir = join(dir, "no", "k.pem");
    const io = await gossip("config", "keygen", "--out", nodir, "--bits", "1024");
    expect([io.code, io.err]).toEqual([1, [`gossip: cannot write ${nodir}: no such file (ENOENT)`]]);
  });
});

describe("gossip config node", () => {
  test("prints a config that parses back to the options", async () => {
    const r = await gossip(
      "config", "node", "--p2p", "[::1]:6002", "--api", "127.0.0.1:7002", "--bootstrapper", "127.0.0.1:6001",
      "--hostkey", "n2.pem", "--set", "degree=5", "--set", "log_level=debug",
    );
    expect(r.code).toBe(0);
    const { config, warnings } = parseConfig(r.out.join("\n"), "/x/n2.ini");
    expect(warnings).toEqual([]);
    expect(config.p2pAddress).toEqual({ host: "::1", port: 6002 });
    expect(config.bootstrappers).toEqual([{ host: "127.0.0.1", port: 6001 }]);
    // A relative --hostkey is taken from the working directory and written absolute.
    expect(r.out).toContain(`hostkey = ${resolve("n2.pem")}`);
    expect([config.hostkey, config.degree, config.logLevel]).toEqual([resolve("n2.pem"), 5, "debug"]);
  });

  test("--out writes the file and refuses to overwrite it (a usage error)", async () => {
    const out = join(dir, "n1.ini");
    const r = await gossip("config", "node", "--out", out);
    expect([r.code, r.out]).toEqual([0, [`config=${out}`]]);
    expect(parseConfig(await readFile(out, "utf8"), out).config.apiAddress).toEqual({ host: "127.0.0.1", port: 7001 });
    const again = await gossip("config", "node", "--out", out);
    expect([again.code, again.err]).toEqual([2, [`gossip: ${out} already exists (pass --force to overwrite)`]]);
    expect((await gossip("config", "node", "--out", out, "--force")).code).toBe(0);
  });

  const bad: [string[], string][] = [
    [["--p2p", "127.0.0.1"], `--p2p: expected host:port or [IPv6]:port (missing port), got "127.0.0.1"`],
    [["--api", "::1:7001"], `--api: expected host:port or [IPv6]:port (IPv6 address must be in brackets), got "::1:7001"`],
    [["--api", "127.0.0.1:6001"], `--api: expected an address other than p2p_address, got "127.0.0.1:6001"`],
    [["--bootstrapper", "10.0.0.1:0"], `--bootstrapper: expected a port 1-65535, got "10.0.0.1:0"`],
    [["--set", "degree=abc"], `--set degree=abc: expected an integer 1-1000, got "abc"`],
    [["--set", "dissemination=push"], `--set dissemination=push: expected one of plumtree, flood, got "push"`],
    [["--set", "degree"], `--set: expected key=value, got "degree"`],
    [["--set", "degre=3"], `--set: unknown [gossip] key "degre" (see gossip config node --help)`],
    [["--set", "p2p_address=127.0.0.1:1"], `--set p2p_address: use --p2p instead`],
    [["--hostkey", ""], `--hostkey: expected a path, got ""`],
  ];
  for (const [args, message] of bad) {
    test(`usage error: ${args.join(" ")}`, async () => {
      const r = await gossip("config", "node", ...args);
      expect([r.code, r.out, r.err]).toEqual([2, [], [`gossip: ${message}`]]);
    });
  }
});

describe("gossip config network + check", () => {
  test("writes N nodes, prints one line each, and every config checks ok", async () => {
    const net = join(dir, "net");
    const r = await gossip("config", "network", "--nodes", "3", "--dir", net, "--base-port", "16001", "--bits", "1024",
      "--set", "pow_bits=2");
    expect(r.code).toBe(0);
    expect(r.out).toEqual([1, 2, 3].map((k) =>
      `node${k} p2p=127.0.0.1:${16000 + k} api=127.0.0.1:${17000 + k} config=${join(net, `node${k}.ini`)}`));
    const ids = new Set<string>();
    for (const k of [1, 2, 3]) {
      const c = await gossip("config", "check", "-c", join(net, `node${k}.ini`));
      expect([c.code, c.err]).toEqual([0, []]);
      const m = /^ok id=([0-9a-f]{64}) p2p=127\.0\.0\.1:(\d+) api=127\.0\.0\.1:(\d+)$/.exec(c.out[0] ?? "");
      expect(m?.slice(2)).toEqual([String(16000 + k), String(17000 + k)]);
      ids.add(m?.[1] ?? "");
    }
    expect(ids.size).toBe(3);
    expect(await readFile(join(net, "node2.ini"), "utf8")).toContain(`\nhostkey = ${join(net, "node2.pem")}\n`);
    expect(await readFile(join(net, "node2.pem"), "utf8")).toStartWith("-----BEGIN RSA PRIVATE KEY-----");
    const again = await gossip("config", "network", "--nodes", "3", "--dir", net, "--bits", "1024");
    expect(again.code).toBe(2);
    expect(again.err[0]).toContain("already exists (pass --force to overwrite)");
  });

  test("--dir naming a file that is not a directory is a usage error naming --dir (no --force hint)", async () => {
    const afile = join(dir, "afile");
    await writeFile(afile, "keep");
    for (const force of [[], ["--force"]]) {
      const r = await gossip("config", "network", "--nodes", "2", "--dir", afile, "--bits", "1024", ...force);
      expect([r.code, r.out, r.err]).toEqual([2, [], [`gossip: --dir: ${afile} exists and is not a directory; give a directory (created if missing)`]]);
    }
    expect(await readFile(afile, "utf8")).toBe("keep");
  });

  test("--admin-base-port gives every node its own admin_address; state_dir may be shared", async () => {
    const net = join(dir, "net-admin");
    const r = await gossip("config", "network", "--nodes", "3", "--dir", net, "--base-port", "16001", "--admin-base-port", "19001",
      "--bits", "1024", "--set", "state_dir=states");
    expect([r.code, r.err]).toEqual([0, []]);
    expect(r.out).toEqual([1, 2, 3].map((k) =>
      `node${k} p2p=127.0.0.1:${16000 + k} api=127.0.0.1:${17000 + k} admin=127.0.0.1:${19000 + k} config=${join(net, `node${k}.ini`)}`));
    for (const k of [1, 2, 3]) {
      const path = join(net, `node${k}.ini`);
      const { config } = parseConfig(await readFile(path, "utf8"), path);
      expect([config.adminAddress, config.stateDir]).toEqual([{ host: "127.0.0.1", port: 19000 + k }, join(net, "states")]);
    }
  });

  const bad: [string[], string][] = [
    // Keys that differ per node: one value for all would make node 2 fail to bind. The message
    // names what network offers (it has no --p2p, --api or --bootstrapper).
    [["--nodes", "2", "--set", "admin_address=127.0.0.1:9001"], `--set admin_address: differs per node; use --admin-base-port (node k: 127.0.0.1:<admin-base+k-1>)`],
    [["--nodes", "2", "--set", "p2p_address=127.0.0.1:1"], `--set p2p_address: differs per node (node k: 127.0.0.1:<base+k-1>); use --base-port`],
    [["--nodes", "2", "--set", "api_address=127.0.0.1:1"], `--set api_address: differs per node (node k: 127.0.0.1:<base+1000+k-1>); use --base-port`],
    [["--nodes", "2", "--set", "bootstrapper=127.0.0.1:1"], `--set bootstrapper: node1 is the bootstrapper of every other node; for other bootstrappers write each config with gossip config node --bootstrapper`],
    [["--nodes", "2", "--set", "advertise_address=h:1"], `--set advertise_address: differs per node (network nodes are dialed at their p2p_address); to set it, write each config with gossip config node --set advertise_address=HOST:PORT`],
    [["--nodes", "3", "--base-port", "16001", "--admin-base-port", "16003"], `--admin-base-port: ports 16003-16005 overlap the p2p ports 16001-16003`],
    [["--nodes", "3", "--base-port", "16001", "--admin-base-port", "16999"], `--admin-base-port: ports 16999-17001 overlap the api ports 17001-17003`],
    [["--nodes", "3", "--admin-base-port", "65534"], `--admin-base-port: expected an integer 1-65533, got "65534"`],
    [["--nodes", "0"], `--nodes: expected an integer 1-1000, got "0"`],
    [["--nodes", "2", "--base-port", "65000"], `--base-port: expected an integer 1-64534, got "65000"`],
    [["--nodes", "2", "--set", "degree=0"], `--set degree=0: expected an integer 1-1000, got "0"`],
  ];
  for (const [args, message] of bad) {
    test(`network usage error: ${args.join(" ")}`, async () => {
      const r = await gossip("config", "network", "--dir", join(dir, "never"), "--bits", "1024", ...args);
      expect([r.code, r.err]).toEqual([2, [`gossip: ${message}`]]);
    });
  }
});

describe("gossip config check", () => {
  test("without hostkey: in-memory; unknown keys warn on stderr", async () => {
    const path = join(dir, "plain.ini");
    await writeFile(path, "[gossip]\np2p_address = [::1]:0\napi_address = [::1]:0\nfoo = 1\n");
    const r = await gossip("config", "check", "-c", path);
    expect(r).toEqual({
      code: 0,
      out: ["ok id=in-memory p2p=[::1]:0 api=[::1]:0"],
      err: [`gossip: warning: ${path} line 4 [gossip] foo: unknown key (ignored)`],
    });
  });

  test("config errors exit 2 with the file, section, key and value", async () => {
    const path = join(dir, "bad.ini");
    await writeFile(path, "[gossip]\ndegree = abc\n");
    const r = await gossip("config", "check", "--config", path);
    expect([r.code, r.out, r.err]).toEqual([2, [], [`gossip: ${path} line 2 [gossip] degree: expected an integer 1-1000, got "abc"`]]);
  });

  test("a missing config file or hostkey exits 2", async () => {
    const gone = join(dir, "gone.ini");
    const r = await gossip("config", "check", "-c", gone);
    expect([r.code, r.err]).toEqual([2, [`gossip: ${gone}: cannot read config file: no such file (ENOENT)`]]);
    const sub = join(dir, "sub");
    await mkdir(sub);
    await writeFile(join(sub, "n.ini"), "hostkey = n.pem\n[gossip]\n");
    const k = await gossip("config", "check", "-c", join(sub, "n.ini"));
    expect(k.code).toBe(2);
    expect(k.err).toEqual([
      `gossip: ${join(sub, "n.ini")} line 1 [global] hostkey: cannot read "${join(sub, "n.pem")}": no such file (ENOENT) ` +
        `(create one with: gossip config keygen --out ${join(sub, "n.pem")})`,
    ]);
    // A file that exists but is no key: named with its line, and no keygen hint (keygen would
    // refuse it, or with --force overwrite it).
    await writeFile(join(sub, "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await writeFile(join(sub, "p.ini"), "; shared config\nhostkey = passwd\n[gossip]\n");
    const p = await gossip("config", "check", "-c", join(sub, "p.ini"));
    expect([p.code, p.err]).toEqual([2, [`gossip: ${join(sub, "p.ini")} line 2 [global] hostkey: "${join(sub, "passwd")}": not a PEM private key`]]);
  });
});

describe("help", () => {
  test("help that was asked for exits 0 on stdout; help instead of a missing or unknown command exits 2 on stderr", async () => {
    for (const args of [["--help"], ["help"], ["help", "config"], ["config", "--help"], ["config", "help"], ["config", "keygen", "--help"]]) {
      const r = await gossip(...args);
      expect([args, r.code, r.err]).toEqual([args, 0, []]);
      expect(r.out.join("\n")).toContain("Usage: gossip");
    }
    for (const args of [["config"], ["help", "nosuch"], ["config", "help", "nosuch"], []]) {
      const r = await gossip(...args);
      expect([args, r.code, r.out]).toEqual([args, 2, []]);
      expect(r.err.join("\n")).toContain("Usage: gossip");
    }
  });

  for (const sub of ["keygen", "node", "network", "check"]) {
    test(`config ${sub} --help shows examples`, async () => {
      const r = await gossip("config", sub, "--help");
      expect(r.code).toBe(0);
      expect(r.out.join("\n")).toContain("Example");
    });
  }
});
