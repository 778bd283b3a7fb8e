import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError, defaultConfig, loadConfig, MAX_FILE_BYTES, parseConfig, parseConfigBytes } from "../../src/config/load.ts";
import { GOSSIP_KEYS, type Config } from "../../src/config/schema.ts";

const SPEC_EXAMPLE = `hostkey = /path/hostkey.pem   ; global: the peer's RSA key (PEM); identity = SHA-256 of its public key
[gossip]
cache_size = 50               ; max data items held in this peer's knowledge base; oldest evicted first
degree = 30                   ; number of peers this peer exchanges information with
bootstrapper = 127.0.0.1:6001 ; host:port of a peer to join through; absent (or our own p2p_address): we are the first peer
p2p_address = 127.0.0.1:6002  ; where Gossip listens for other Gossip peers
api_address = 127.0.0.1:7001  ; where Gossip listens for local modules
`;

const gossip = (body: string): string => `[gossip]\n${body}\n`;
const errorOf = (text: string, file: string | null = "node1.ini"): ConfigError => {
  try {
    parseConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
};

describe("parseConfig: the spec's example", () => {
  test("inline ; comments are stripped from every value", () => {
    const { config, warnings } = parseConfig(SPEC_EXAMPLE, "node1.ini");
    expect(warnings).toEqual([]);
    expect(config.hostkey).toBe("/path/hostkey.pem");
    expect(config.cacheSize).toBe(50);
    expect(config.degree).toBe(30);
    expect(config.bootstrappers).toEqual([{ host: "127.0.0.1", port: 6001 }]);
    expect(config.p2pAddress).toEqual({ host: "127.0.0.1", port: 6002 });
    expect(config.apiAddress).toEqual({ host: "127.0.0.1", port: 7001 });
    expect(config.file).toBe("node1.ini");
  });

  test("# comments, whole-line comments, CRLF and a BOM", () => {
    const text = "\uFEFF# top comment\r\n; another\r\n[gossip]\r\n  # indented\r\ndegree = 7 # seven\r\ncache_size=9;nine\r\n";
    const { config, warnings } = parseConfig(text, "x.ini");
    expect(warnings).toEqual([]);
    expect(config.degree).toBe(7);
    expect(config.cacheSize).toBe(9);
  });

  test("quoted values, with or without a trailing comment", () => {
    const { config } = parseConfig(
      gossip(`p2p_address = "127.0.0.1:6005"\napi_address = "[::1]:7005" ; api\nlog_level = 'debug'`),
      "x.ini",
    );
    expect(config.p2pAddress).toEqual({ host: "127.0.0.1", port: 6005 });
    expect(config.apiAddress).toEqual({ host: "::1", port: 7005 });
    expect(config.logLevel).toBe("debug");
  });
});

describe("parseConfig: defaults", () => {
  const fromTable = (c: Config) =>
    GOSSIP_KEYS.filter((k) => k.kind.type === "int" || k.kind.type === "enum").map((k) => [k.key, String(c[k.field]), k.default]);

  test("no [gossip] section: every key at its table default, with a warning", () => {
    const { config, warnings } = parseConfig("hostkey = k.pem\n[onion]\nx = 1\n", "/etc/voidphone/a.ini");
    expect(warnings).toEqual(["/etc/voidphone/a.ini: no [gossip] section: every gossip key is at its default"]);
    for (const [key, got, want] of fromTable(config)) expect([key, got]).toEqual([key, want]);
    expect(config.bootstrappers).toEqual([]);
    expect(config.p2pAddress).toEqual({ host: "127.0.0.1", port: 6001 });
    expect(config.apiAddress).toEqual({ host: "127.0.0.1", port: 7001 });
  });

  test("defaultConfig equals an empty [gossip] section and has no file or hostkey", () => {
    const d = defaultConfig();
    expect(d).toEqual(parseConfig("[gossip]\n", null).config);
    expect(d.file).toBeNull();
    expect(d.hostkey).toBeNull();
    for (const [key, got, want] of fromTable(d)) expect([key, got]).toEqual([key, want]);
  });

  test("a partial [gossip] keeps defaults for the rest", () => {
    const { config } = parseConfig(gossip("degree = 4"), "x.ini");
    expect(config.degree).toBe(4);
    expect(config.cacheSize).toBe(50);
    expect(config.dissemination).toBe("plumtree");
  });
});

describe("parseConfig: keys and sections", () => {
  test("unknown [gossip] keys warn with file, line, section and key, and a near miss is named", () => {
    const { warnings } = parseConfig(gossip("degre = 3\nflag = 1\nDegree = 4\nttl_cpa = 3"), "node1.ini");
    expect(warnings).toEqual([
      "node1.ini line 2 [gossip] degre: unknown key (ignored); did you mean degree?",
      "node1.ini line 3 [gossip] flag: unknown key (ignored)",
      "node1.ini line 4 [gossip] Degree: unknown key (ignored); did you mean degree?",
      "node1.ini line 5 [gossip] ttl_cpa: unknown key (ignored); did you mean ttl_cap?",
    ]);
  });

  test("other sections and unknown globals are ignored, even with bad values", () => {
    const text = `nse_thing = 1\n[onion]\ndegree = abc\n[gossip]\ndegree = 5\n[rps]\ncache_size = -1\n[gossip.extra]\nq = 1\n`;
    const { config, warnings } = parseConfig(text, "x.ini");
    expect(warnings).toEqual([]);
    expect(config.degree).toBe(5);
    expect(config.cacheSize).toBe(50);
  });

  test("bootstrapper equal to p2p_address means we are the first peer", () => {
    const same = parseConfig(gossip("p2p_address = 127.0.0.1:6001\nbootstrapper = 127.0.0.1:6001"), "x.ini");
    expect(same.config.bootstrappers).toEqual([]);
    const v6 = parseConfig(gossip("p2p_address = [::1]:6001\nbootstrapper = [0:0:0:0:0:0:0:1]:6001"), "x.ini");
    expect(v6.config.bootstrappers).toEqual([]);
    const other = parseConfig(gossip("p2p_address = 127.0.0.1:6002\nbootstrapper = 127.0.0.1:6001"), "x.ini");
    expect(other.config.bootstrappers).toEqual([{ host: "127.0.0.1", port: 6001 }]);
    expect(parseConfig(gossip("bootstrapper ="), "x.ini").config.bootstrappers).toEqual([]);
  });

  test("bootstrapper takes a comma-separated list; our own address and repeats are skipped", () => {
    const { config } = parseConfig(
      gossip("p2p_address = 10.0.0.2:6001\nbootstrapper = 10.0.0.1:6001, 10.0.0.2:6001,[::1]:7000 ,10.0.0.1:6001"),
      "x.ini",
    );
    expect(config.bootstrappers).toEqual([{ host: "10.0.0.1", port: 6001 }, { host: "::1", port: 7000 }]);
    // A list shared by every node of a deployment: the advertised address is ours too.
    const adv = parseConfig(gossip("p2p_address = 0.0.0.0:6001\nadvertise_address = 10.0.0.3:6001\nbootstrapper = 10.0.0.3:6001,10.0.0.1:6001"), "x.ini");
    expect(adv.config.bootstrappers).toEqual([{ host: "10.0.0.1", port: 6001 }]);
    expect(() => parseConfig(gossip("bootstrapper = 10.0.0.1:6001,,10.0.0.2:6001"), "x.ini")).toThrow(
      /x\.ini line 2 \[gossip\] bootstrapper: expected host:port or \[IPv6\]:port, or several separated by commas \(""/,
    );
    expect(() => parseConfig(gossip("bootstrapper = 10.0.0.1:6001, 10.0.0.2:0"), "x.ini")).toThrow(/bootstrapper: expected a port 1-65535, got "10.0.0.2:0"/);
  });

  test("state_dir: relative to the config file's directory; off; absent", () => {
    expect(parseConfig(gossip("state_dir = state"), "/etc/voidphone/x.ini").config.stateDir).toBe("/etc/voidphone/state");
    expect(parseConfig(gossip("state_dir = /var/lib/gossip"), "x.ini").config.stateDir).toBe("/var/lib/gossip");
    expect(parseConfig(gossip("state_dir = off"), "x.ini").config.stateDir).toBe("off");
    expect(parseConfig(gossip("degree = 4"), "x.ini").config.stateDir).toBeNull();
  });

  test("api and p2p may share port 0 (any free port)", () => {
    const { config } = parseConfig(gossip("p2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0"), "x.ini");
    expect(config.p2pAddress.port).toBe(0);
    expect(config.apiAddress.port).toBe(0);
  });
});

describe("parseConfig: hostkey", () => {
  test("absent: null (in-memory key)", () => {
    expect(parseConfig(gossip("degree = 3"), "/a/b/c.ini").config.hostkey).toBeNull();
  });
  test("relative: resolved against the config file's directory", () => {
    expect(parseConfig("hostkey = keys/n1.pem\n", "/etc/vp/node1.ini").config.hostkey).toBe("/etc/vp/keys/n1.pem");
    expect(parseConfig("hostkey = n1.pem\n", "net/node1.ini").config.hostkey).toBe(resolve("net", "n1.pem"));
  });
  test("absolute: kept; no config file: resolved against the working directory", () => {
    expect(parseConfig("hostkey = /k/n1.pem\n", "/etc/vp/node1.ini").config.hostkey).toBe("/k/n1.pem");
    expect(parseConfig("hostkey = n1.pem\n", null).config.hostkey).toBe(resolve("n1.pem"));
  });
  test("a hostkey inside [gossip] is an error that says it must be global", () => {
    expect(errorOf(gossip("degree = 3\nhostkey = x.pem"), "c.ini").message).toBe(
      "c.ini line 3 [gossip] hostkey: must be a global key, before the first [section] (all modules share it), not inside [gossip]",
    );
  });
});

describe("parseConfig: error messages", () => {
  const cases: [string, string][] = [
    ["degree = abc", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "abc"`],
    ["degree = 0", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "0"`],
    ["degree = 1001", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "1001"`],
    ["degree = -5", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "-5"`],
    ["degree = 1e2", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "1e2"`],
    ["degree = 0x10", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "0x10"`],
    ["degree = 3.5", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got "3.5"`],
    ["degree =", `node1.ini line 2 [gossip] degree: expected an integer 1-1000, got ""`],
    ["passive_size = 0", `node1.ini line 2 [gossip] passive_size: expected an integer 1-100000, got "0"`],
    ["cache_size = 99999999999999999999", `node1.ini line 2 [gossip] cache_size: expected an integer 1-1000000, got "99999999999999999999"`],
    ["log_level = verbose", `node1.ini line 2 [gossip] log_level: expected one of debug, info, warn, error, silent, got "verbose"`],
    ["log_format = xml", `node1.ini line 2 [gossip] log_format: expected one of text, json, got "xml"`],
    ["dissemination = gossip", `node1.ini line 2 [gossip] dissemination: expected one of plumtree, flood, got "gossip"`],
    ["p2p_address = 127.0.0.1", `node1.ini line 2 [gossip] p2p_address: expected host:port or [IPv6]:port (missing port), got "127.0.0.1"`],
    ["api_address = ::1:7001", `node1.ini line 2 [gossip] api_address: expected host:port or [IPv6]:port (IPv6 address must be in brackets), got "::1:7001"`],
    ["bootstrapper = 10.0.0.1:70000", `node1.ini line 2 [gossip] bootstrapper: expected host:port or [IPv6]:port (port must be 0-65535), got "10.0.0.1:70000"`],
    ["bootstrapper = 10.0.0.1:0", `node1.ini line 2 [gossip] bootstrapper: expected a port 1-65535, got "10.0.0.1:0"`],
    ["api_address = 127.0.0.1:6001", `node1.ini line 2 [gossip] api_address: expected an address other than p2p_address, got "127.0.0.1:6001"`],
    ["admin_address = 127.0.0.1:7001", `node1.ini line 2 [gossip] admin_address: expected an address other than api_address, got "127.0.0.1:7001"`],
    ["admin_address = 127.0.0.1:6001", `node1.ini line 2 [gossip] admin_address: expected an address other than p2p_address, got "127.0.0.1:6001"`],
    // Only the key in the file is named, with its line (the other one is at its default).
    ["p2p_address = 127.0.0.1:7001", `node1.ini line 2 [gossip] p2p_address: expected an address other than api_address, got "127.0.0.1:7001"`],
    ["admin_address = 127.0.0.1", `node1.ini line 2 [gossip] admin_address: expected host:port or [IPv6]:port (missing port), got "127.0.0.1"`],
    // A new neighbour is offered the last cache_size items: it must still remember their ids.
    ["seen_cache_size = 49", `node1.ini line 2 [gossip] seen_cache_size: expected at least cache_size (50), got "49"`],
    ["cache_size = 100001", `node1.ini line 2 [gossip] cache_size: expected at most seen_cache_size (100000), got "100001"`],
  ];
  for (const [line, message] of cases) {
    test(line, () => {
      const e = errorOf(gossip(line));
      expect(e.message).toBe(message);
      expect(e.code).toBe("ERR_CONFIG");
      expect(e.section).toBe("gossip");
      expect(e.key).toBe(line.split(/\s|=/)[0] ?? "");
      expect(e.line).toBe(2);
    });
  }

  test("two listeners on one address: the later key in the file is named, with its line", () => {
    const cases: [string, string][] = [
      ["api_address = 127.0.0.1:5000\np2p_address = 127.0.0.1:5000", `node1.ini line 3 [gossip] p2p_address: expected an address other than api_address, got "127.0.0.1:5000"`],
      ["p2p_address = 127.0.0.1:5000\napi_address = 127.0.0.1:5000", `node1.ini line 3 [gossip] api_address: expected an address other than p2p_address, got "127.0.0.1:5000"`],
      ["admin_address = 127.0.0.1:5000\np2p_address = 127.0.0.1:5000", `node1.ini line 3 [gossip] p2p_address: expected an address other than admin_address, got "127.0.0.1:5000"`],
      ["admin_address = 127.0.0.1:5000\napi_address = 127.0.0.1:5000", `node1.ini line 3 [gossip] api_address: expected an address other than admin_address, got "127.0.0.1:5000"`],
    ];
    for (const [body, message] of cases) {
      const e = errorOf(gossip(body));
      expect([e.message, e.key, e.line]).toEqual([message, message.split(" ")[4]?.replace(":", "") ?? "", 3]);
    }
  });

  test("without a file, messages say <defaults>", () => {
    expect(errorOf(gossip("degree = x"), null).message).toBe(`<defaults> line 2 [gossip] degree: expected an integer 1-1000, got "x"`);
  });

  test("global hostkey errors say [global]", () => {
    const e = errorOf("hostkey =\n");
    expect(e.message).toBe(`node1.ini line 1 [global] hostkey: expected a path to a PEM RSA private key, got ""`);
    expect([e.section, e.key]).toEqual(["global", "hostkey"]);
  });

  test("a global key named like a section is another module's key, not a conflict", () => {
    // The ini package crashed on this ("Attempted to assign to readonly property").
    const { config, warnings } = parseConfig("onion = 1\ngossip = 1\n[onion]\nx = 2\n[gossip]\ndegree = 2\n", "x.ini");
    expect([config.degree, warnings]).toEqual([2, []]);
  });
});

describe("parseConfig: strict structure, errors with file and line", () => {
  const cases: [string, string, string][] = [
    ["mis-cased section", "[Gossip]\ndegree = 3\n", `x.ini line 1 [Gossip]: section names are case-sensitive and exact: did you mean [gossip]?`],
    ["spaces in the section name", "hostkey = k.pem\n[ gossip ]\n", `x.ini line 2 [ gossip ]: section names are case-sensitive and exact: did you mean [gossip]?`],
    ["misspelt section", "[gosip]\ndegree = 3\n", `x.ini line 1 [gosip]: unknown section: did you mean [gossip]?`],
    ["header without ]", "[gossip\ndegree = 3\n", `x.ini line 1: section header without closing "]", got "[gossip"`],
    ["text after the header", "[gossip] degree = 3\n", `x.ini line 1: expected nothing but a comment after the section header, got "[gossip] degree = 3"`],
    ["empty section name", "[]\n", `x.ini line 1: empty section name, got "[]"`],
    ["[gossip] line without =", "[gossip]\ndegree 5\n", `x.ini line 2: expected a [gossip] line "key = value", got "degree 5"`],
    ["[gossip] line with :", "[gossip]\ndegree: 5\n", `x.ini line 2: expected a [gossip] line "key = value" (use "=", not ":"), got "degree: 5"`],
    ["global line without =", "; c\nhostkey k.pem\n[gossip]\n", `x.ini line 2: expected a global line "key = value", got "hostkey k.pem"`],
    ["no key before =", "[gossip]\n= 5\n", `x.ini line 2: expected a key before "=", got "= 5"`],
    ["empty file", "", `x.ini: empty config: expected a [gossip] section and/or a global hostkey (see gossip config node)`],
    ["only comments", "; nothing\n\n   # here\r\n", `x.ini: empty config: expected a [gossip] section and/or a global hostkey (see gossip config node)`],
    ["repeated key", "[gossip]\ndegree = 3\ncache_size = 2\ndegree = 4\n", `x.ini line 4 [gossip] degree: set twice (lines 2 and 4); keep one`],
    ["repeated hostkey", "hostkey = a.pem\nhostkey = b.pem\n", `x.ini line 2 [global] hostkey: set twice (lines 1 and 2); keep one`],
    ["second [gossip]", "[gossip]\ndegree = 3\n[onion]\n[gossip]\n", `x.ini line 4 [gossip]: a second [gossip] section (the first is at line 1); merge them`],
    ["control byte", "[gossip]\ndeg\u0000ree = 1\n", `x.ini line 2: control byte 0x00: not a text file`],
    ["CR-only line ends count as lines", "[gossip]\rdegree = 3\rdegree = 4\r", `x.ini line 3 [gossip] degree: set twice (lines 2 and 3); keep one`],
  ];
  for (const [name, text, message] of cases) {
    test(name, () => {
      const e = errorOf(text, "x.ini");
      expect(e.message).toBe(message);
      expect(e.code).toBe("ERR_CONFIG");
    });
  }

  test("other modules' sections may hold lines we would refuse in ours", () => {
    const text = "[onion]\nflag\nkey: value\n= 4\n[gossip] ; ours\ndegree = 2\n";
    const { config, warnings } = parseConfig(text, "x.ini");
    expect([config.degree, warnings]).toEqual([2, []]);
  });

  test("escaped ; and # are part of a value, quoted values lose their quotes", () => {
    const { config } = parseConfig('hostkey = "k;1.pem" ; key\n[gossip]\nlog_level = "debug" ; c\n', "/c/x.ini");
    expect([config.hostkey, config.logLevel]).toEqual(["/c/k;1.pem", "debug"]);
    expect(parseConfig("hostkey = k\\#2.pem # c\n", "/c/x.ini").config.hostkey).toBe("/c/k#2.pem");
  });

  test("a near miss of the global hostkey is warned about", () => {
    const { config, warnings } = parseConfig("host_key = k.pem\n[gossip]\n", "x.ini");
    expect(config.hostkey).toBeNull();
    expect(warnings).toEqual(["x.ini line 1 [global] host_key: not a key gossip reads; did you mean hostkey?"]);
  });
});

describe("parseConfigBytes: only UTF-8 text", () => {
  test("a binary file names its first bad byte and line", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
    expect(() => parseConfigBytes(png, "x.png")).toThrow(
      new ConfigError("x.png line 1: not a text file (byte 0x89 is not UTF-8); expected a UTF-8 INI file"),
    );
    const late = new TextEncoder().encode("[gossip]\ndegree = 3\nx = \u00e9\n");
    const bad = new Uint8Array([...late.subarray(0, late.length - 3), 0xc3, 0x28, 0x0a]);
    expect(() => parseConfigBytes(bad, "x.ini")).toThrow("x.ini line 3: not a text file (bytes 0xc3 0x28 are not UTF-8)");
    const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x0a, 0x0a, 0x61, 0xe2, 0x82, 0x61]);
    expect(() => parseConfigBytes(elf, "x.bin")).toThrow("x.bin line 3: not a text file (bytes 0xe2 0x82 0x61 are not UTF-8)");
    const cut = new Uint8Array([...new TextEncoder().encode("[gossip]\n"), 0xe2, 0x82]);
    expect(() => parseConfigBytes(cut, "x.ini")).toThrow("x.ini line 2: not a text file (an unfinished UTF-8 sequence at the end)");
  });

  test("UTF-8 with a BOM and non-ASCII comments is fine", () => {
    const text = new TextEncoder().encode("\uFEFF; Konfiguration für Knoten 1\n[gossip]\ndegree = 3\n");
    expect(parseConfigBytes(text, "x.ini").config.degree).toBe(3);
  });
});

describe("loadConfig", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gossip-load-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("reads a file and names it in messages", async () => {
    const path = join(dir, "node1.ini");
    await writeFile(path, "hostkey = node1.pem\n[gossip]\ndegree = 2\nzzz = 1\n");
    const { config, warnings } = await loadConfig(path);
    expect(config.file).toBe(path);
    expect(config.hostkey).toBe(join(dir, "node1.pem"));
    expect(config.degree).toBe(2);
    expect(warnings).toEqual([`${path} line 4 [gossip] zzz: unknown key (ignored)`]);
  });

  test("a missing file is a ConfigError with the path and OS reason", async () => {
    const path = join(dir, "nope.ini");
    const e = await loadConfig(path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe(`${path}: cannot read config file: no such file (ENOENT)`);
  });

  test("a file too large to be a config is refused without reading it all", async () => {
    const path = join(dir, "big.ini");
    await writeFile(path, `[gossip]\n${";".repeat(MAX_FILE_BYTES)}\n`);
    const e = await loadConfig(path).catch((x: unknown) => x);
    expect((e as ConfigError).message).toBe(`${path}: cannot read config file: larger than 1 MiB, not a config or key file (EFBIG)`);
  });

  test("a directory is a ConfigError too", async () => {
    const e = await loadConfig(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe(`${dir}: cannot read config file: is a directory (EISDIR)`);
  });
});
