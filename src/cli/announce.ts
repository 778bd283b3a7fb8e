// `gossip announce`: send one GOSSIP ANNOUNCE and exit once it is written.

import type { Command } from "commander";
import { MAX_API_DATA } from "../wire/api.ts";
import { fromHex, HexError } from "../wire/bytes.ts";
import { intOption, usage, type CliIo } from "./io.ts";
import { addTargetOptions, connectApi, resolveApi, type TargetOptions } from "./target.ts";

interface AnnounceOptions extends TargetOptions {
  type: string;
  data: string;
  ttl: string;
}

export function registerAnnounce(program: Command, _io: CliIo): void {
  const cmd = program
    .command("announce")
    .description("ask a running node to spread one item (GOSSIP ANNOUNCE); exits once it is written")
    .requiredOption("--type <n>", "data type, 0-65535 (e.g. 540 for RPS)")
    .requiredOption("--data <hex>", "the item's bytes in hex (may be empty: \"\")")
    .option("--ttl <n>", "hops the item may travel: 0 unlimited (capped by the node's ttl_cap), 1 neighbours only", "0");
  addTargetOptions(cmd).addHelpText(
    "after",
    "\nExamples:\n  $ gossip announce --type 540 --data deadbeef\n  $ gossip announce --type 1337 --data 00ff --ttl 2 --api 127.0.0.1:7002",
  );
  cmd.action(async (opts: AnnounceOptions) => {
    const dataType = intOption("--type", opts.type, 0, 0xffff);
    const ttl = intOption("--ttl", opts.ttl, 0, 0xff);
    let data: Uint8Array;
    try {
      data = fromHex(opts.data);
    } catch (e) {
      if (e instanceof HexError) throw usage(`--data: ${e.message}`);
      throw e;
    }
    if (data.byteLength > MAX_API_DATA) {
      throw usage(`--data: ${data.byteLength} bytes do not fit one message (at most ${MAX_API_DATA})`);
    }
    const client = await connectApi(await resolveApi(opts));
    client.announce(ttl, dataType, data);
    await client.end();
  });
}
