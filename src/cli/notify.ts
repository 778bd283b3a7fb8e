// `gossip notify`: subscribe to data types and print one JSON line per NOTIFICATION,
// answering each with a VALIDATION as --reply says.

import type { Command } from "commander";
import { toHex } from "../wire/bytes.ts";
import { failure, interrupted, intOption, usage, type CliIo } from "./io.ts";
import { addTargetOptions, connectApi, resolveApi, sleep, type TargetOptions } from "./target.ts";

interface NotifyOptions extends TargetOptions {
  type: string[];
  count?: string;
  timeout?: string;
  reply: string;
}

const REPLIES = ["valid", "invalid", "none"] as const;

export function registerNotify(program: Command, io: CliIo): void {
  const cmd = program
    .command("notify")
    .description("subscribe to data types and print each notification as a JSON line")
    .requiredOption("--type <n>", "data type to subscribe to, 0-65535 (repeat for several)", (v, prev: string[]) => [...prev, v], [])
    .option("--count <k>", "exit 0 after K notifications (default: run until interrupted or --timeout)")
    .option("--timeout <s>", "give up after S seconds: exit 1 if --count was not reached, else 0")
    .option("--reply <verdict>", "answer each notification: valid, invalid or none", "valid");
  addTargetOptions(cmd).addHelpText(
    "after",
    [
      "",
      'Output: one line per notification, e.g. {"id":7,"type":540,"data":"deadbeef"}',
      "Exit: 0 after --count notifications (or at --timeout / Ctrl-C / SIGTERM without --count);",
      "      1 if the timeout passes before --count, or the node closes the connection;",
      "      130 if Ctrl-C / SIGTERM comes before --count notifications.",
      "",
      "Examples:",
      "  $ gossip notify --type 540",
      "  $ gossip notify --type 540 --type 541 --count 1 --timeout 10",
      "  $ gossip notify --type 1337 --reply invalid -c node2.ini",
    ].join("\n"),
  );
  cmd.action(async (opts: NotifyOptions) => {
    // commander's `required` is satisfied by the [] default, so check the count here.
    if (opts.type.length === 0) throw usage("--type: at least one data type is required (e.g. --type 540)");
    const types = opts.type.map((t) => intOption("--type", t, 0, 0xffff));
    const count = opts.count === undefined ? null : intOption("--count", opts.count, 1, 1_000_000_000);
    const timeoutS = opts.timeout === undefined ? null : intOption("--timeout", opts.timeout, 1, 1_000_000);
    const reply = opts.reply as (typeof REPLIES)[number];
    if (!REPLIES.includes(reply)) throw usage(`--reply: expected valid, invalid or none, got ${JSON.stringify(opts.reply)}`);

    const done = new AbortController();
    let seen = 0;
    const client = await connectApi(await resolveApi(opts), (f) => {
      if (!("msg" in f) || f.msg.kind !== "notification" || done.signal.aborted) return;
      const m = f.msg;
      io.out(JSON.stringify({ id: m.id, type: m.dataType, data: toHex(m.data) }));
      if (reply !== "none") client.validate(m.id, reply === "valid");
      if (count !== null && ++seen >= count) done.abort();
    });
    for (const t of types) client.notify(t);

    const onSignal = () => done.abort();
    io.signal.addEventListener("abort", onSignal, { once: true });
    let closedByNode: string | null = null;
    void client.whenClosed().then((reason) => {
      if (!done.signal.aborted) closedByNode = reason;
      done.abort();
    });
    await sleep(timeoutS === null ? 2 ** 31 - 1 : timeoutS * 1000, done.signal);
    io.signal.removeEventListener("abort", onSignal);

    if (closedByNode !== null) throw failure(`the node closed the connection (${closedByNode}) after ${seen} notification(s)`);
    await client.end();
    if (count !== null && seen < count) {
      // Stopped before the count it was asked to wait for: an interrupted run (130), told apart
      // from a timeout (1). Without --count a signal is the normal end (0).
      if (io.signal.aborted) throw interrupted(`interrupted with ${seen} of ${count} notification(s)`);
      throw failure(`timed out after ${timeoutS} s with ${seen} of ${count} notification(s)`);
    }
  });
}
