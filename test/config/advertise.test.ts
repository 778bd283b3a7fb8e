// advertise_address (issue 9 item 5): the address peers are told to dial; a wildcard
// p2p_address without it is a config error that says what to set.

import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";

const conf = (lines: string) => () => parseConfig(`[gossip]\n${lines}\n`, "n.ini");

describe("advertise_address", () => {
  test("rule: a wildcard p2p_address without advertise_address is an error naming the key, the value and what to set", () => {
    expect(conf("p2p_address = 0.0.0.0:6001")).toThrow('n.ini line 2 [gossip] p2p_address: expected a concrete host, or advertise_address set to the address peers dial, got "0.0.0.0:6001"');
    expect(conf("p2p_address = [::]:6001")).toThrow("advertise_address set to the address peers dial");
  });

  test("a wildcard p2p_address with advertise_address is fine; the advertised address is kept", () => {
    const { config } = conf("p2p_address = 0.0.0.0:6001\nadvertise_address = 192.0.2.7:6001")();
    expect(config.advertiseAddress).toEqual({ host: "192.0.2.7", port: 6001 });
    expect(config.p2pAddress).toEqual({ host: "0.0.0.0", port: 6001 });
  });

  test("rule: advertise_address must be dialable: no wildcard, no port 0", () => {
    expect(conf("advertise_address = 0.0.0.0:6001")).toThrow('advertise_address: expected a host and port peers can dial (not a wildcard, not port 0), got "0.0.0.0:6001"');
    expect(conf("advertise_address = 192.0.2.7:0")).toThrow("advertise_address: expected a host and port peers can dial");
  });

  test("absent: null (peers are told p2p_address)", () => {
    expect(conf("p2p_address = 127.0.0.1:6001")().config.advertiseAddress).toBeNull();
  });
});
