// `gossip send`: write raw bytes to the API (for testing how a node treats bad input) and
// print what comes back.

import type { Command } from "commander";
import { fromHex, HexError } from "../wire/bytes.ts";
import { intOption, usage, type CliIo } from "./io.ts";
import { addTargetOptions, connectApi, frameJson, resolveApi, sleep, type TargetOptions } from "./target.ts";

interface SendOptions extends TargetOptions {
  hex: string;
  timeout: string;
}

export function registerSend(program: Command, io: CliIo): void {
  const cmd = program
    .command("send")
    .description("write raw bytes to a node's API; print each frame that comes back as a JSON line")
    .requiredOption("--hex <bytes>", "what to write, in hex (one or more frames, or garbage)")
    .option("--timeout <s>", "seconds to wait for frames before closing, 0-3600", "1");
  addTargetOptions(cmd).addHelpText(
    "after",
    [
      "",
      "If the node closes the connection, a last line {\"kind\":\"closed\"} is printed.",
      "",
      "Examples:",
      "  $ gossip send --hex '0008 01f5 0000 0539'      # a NOTIFY, then wait 1 s",
      "  $ gossip send --hex 0003 --timeout 2           # size below 4: expect {\"kind\":\"closed\"}",
    ].join("\n"),
  );
  cmd.action(async (opts: SendOptions) => {
    const timeoutS = intOption("--timeout", opts.timeout, 0, 3600);
    let bytes: Uint8Array;
    try {
      bytes = fromHex(opts.hex);
    } catch (e) {
      if (e instanceof HexError) throw usage(`--hex: ${e.message}`);
      throw e;
    }
    const client = await connectApi(await resolveApi(opts), (f) => io.out(frameJson(f)));
    client.sendRaw(bytes);
    await client.flushed();
    const wait = new AbortController();
    const onAbort = () => wait.abort();
    io.signal.addEventListener("abort", onAbort, { once: true });
    void client.whenClosed().then(() => wait.abort());
    await sleep(timeoutS * 1000, wait.signal);
    io.signal.removeEventListener("abort", onAbort);
    if (client.closed && !io.signal.aborted) io.out(JSON.stringify({ kind: "closed" }));
    else client.close();
  });
}
