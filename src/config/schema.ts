// Every [gossip] key we read, with its type, bounds, default and a one-line doc. The parser,
// the README table and `gossip config node` are all driven from this one table.

import { LOG_FORMATS, type LogFormat } from "../util/log.ts";

export interface Address {
  readonly host: string;
  readonly port: number;
}

export type Dissemination = "plumtree" | "flood";
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export { LOG_FORMATS, type LogFormat };

export interface Config {
  /** Where the config came from (a path), or null for built-in defaults. For messages. */
  readonly file: string | null;
  /** Global `hostkey`: path of the PEM RSA key, or null for an in-memory key. */
  readonly hostkey: string | null;
  /** Line of the global `hostkey` in the file, for messages about the key file; null without one. */
  readonly hostkeyLine: number | null;
  readonly cacheSize: number;
  readonly degree: number;
  /** Peers to join through, in order; empty: we are the first peer (absent, or only our own p2p_address). */
  readonly bootstrappers: readonly Address[];
  readonly p2pAddress: Address;
  readonly apiAddress: Address;
  readonly ttlCap: number;
  readonly validationTimeoutS: number;
  readonly suppressS: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly maxPendingValidations: number;
  readonly apiMaxConnections: number;
  readonly apiSendBufferBytes: number;
  readonly passiveSize: number;
  readonly powBits: number;
  readonly dissemination: Dissemination;
  readonly handshakeTimeoutMs: number;
  readonly keepaliveMs: number;
  readonly shuffleIntervalMs: number;
  readonly graftTimeoutMs: number;
  readonly ihaveBatchMs: number;
  readonly graftBufferBytes: number;
  readonly maxHandshakes: number;
  readonly peerSendBufferBytes: number;
  readonly peerItemsPerS: number;
  readonly seenCacheSize: number;
  readonly peerControlPerS: number;
  readonly banScore: number;
  readonly banS: number;
  readonly maxConnsPerIp: number;
  readonly viewPrefixLimit: number;
  readonly apiAnnouncesPerS: number;
  readonly offerRecentMs: number;
  readonly refreshIntervalMs: number;
  /** null: no admin listener (the default). */
  readonly adminAddress: Address | null;
  /** Where peers are told to dial us; null: p2p_address (its real port when 0). */
  readonly advertiseAddress: Address | null;
  /** Directory of the state file; null: next to the config file (none without one); "off": no state file. */
  readonly stateDir: string | null;
}

type Kind =
  | { readonly type: "int"; readonly min: number; readonly max: number }
  | { readonly type: "enum"; readonly values: readonly string[] }
  | { readonly type: "address"; readonly optional: boolean }
  /** A comma-separated list of addresses; absent or empty: none. */
  | { readonly type: "addresses" }
  /** A filesystem path (relative: to the config file's directory); absent: null. */
  | { readonly type: "path" };

export interface KeySpec {
  /** INI key in [gossip]. */
  readonly key: string;
  /** Config field it fills. */
  readonly field: keyof Config;
  readonly kind: Kind;
  /** Default as it would be written in the INI; undefined = required unless optional. */
  readonly default: string | undefined;
  readonly doc: string;
  /** Part of the VoidPhone specification (as opposed to our own additions). */
  readonly spec: boolean;
}

const int = (min: number, max: number): Kind => ({ type: "int", min, max });

export const GOSSIP_KEYS: readonly KeySpec[] = [
  { key: "cache_size", field: "cacheSize", kind: int(1, 1_000_000), default: "50", spec: true,
    doc: "max data items held in this peer's knowledge base (served to peers that GRAFT); oldest evicted first" },
  { key: "degree", field: "degree", kind: int(1, 1000), default: "30", spec: true,
    doc: "number of peers this peer exchanges information with (size of the active view)" },
  { key: "bootstrapper", field: "bootstrappers", kind: { type: "addresses" }, default: undefined, spec: true,
    doc: "host:port of a peer to join through, or several separated by commas (tried in turn when one is down); absent, or our own p2p_address: we are the first peer" },
  { key: "p2p_address", field: "p2pAddress", kind: { type: "address", optional: false }, default: "127.0.0.1:6001", spec: true,
    doc: "where Gossip listens for other Gossip peers (port 0: any free port)" },
  { key: "api_address", field: "apiAddress", kind: { type: "address", optional: false }, default: "127.0.0.1:7001", spec: true,
    doc: "where Gossip listens for local modules (port 0: any free port)" },
  { key: "ttl_cap", field: "ttlCap", kind: int(1, 255), default: "64", spec: false,
    doc: "most hops any item travels; a TTL of 0 (unlimited) or above the cap is lowered to it" },
  { key: "validation_timeout_s", field: "validationTimeoutS", kind: int(1, 3600), default: "10", spec: false,
    doc: "seconds to wait for every subscriber's VALIDATION before the item is dropped" },
  { key: "suppress_s", field: "suppressS", kind: int(1, 86400), default: "300", spec: false,
    doc: "seconds an item id is remembered so that copies of it are neither delivered nor spread again" },
  { key: "log_level", field: "logLevel", kind: { type: "enum", values: LOG_LEVELS }, default: "info", spec: false,
    doc: "stderr log threshold: debug, info, warn, error or silent" },
  { key: "log_format", field: "logFormat", kind: { type: "enum", values: LOG_FORMATS }, default: "text", spec: false,
    doc: "stderr log lines: text (`TIME LEVEL scope message key=value ...`) or json (one JSON object per line, for log shippers)" },
  { key: "max_pending_validations", field: "maxPendingValidations", kind: int(1, 65536), default: "4096", spec: false,
    doc: "items from peers awaiting local verdicts at once; more are dropped (logged) until some complete" },
  { key: "api_max_connections", field: "apiMaxConnections", kind: int(1, 100_000), default: "256", spec: false,
    doc: "local module connections accepted at once; more are refused" },
  { key: "api_send_buffer_bytes", field: "apiSendBufferBytes", kind: int(65_536, 1 << 30), default: "4194304", spec: false,
    doc: "bytes queued for a module that is not reading before it is disconnected" },
  { key: "passive_size", field: "passiveSize", kind: int(1, 100_000), default: "180", spec: false,
    doc: "known peer addresses kept in reserve (HyParView passive view)" },
  { key: "pow_bits", field: "powBits", kind: int(0, 28), default: "21", spec: false,
    doc: "leading zero bits of the proof of work a joining peer must present (21: about 0.5 s of one core; joiners refuse more than 28)" },
  { key: "dissemination", field: "dissemination", kind: { type: "enum", values: ["plumtree", "flood"] }, default: "plumtree", spec: false,
    doc: "plumtree (eager tree push, lazy IHAVE) or flood (full item to every neighbour)" },
  { key: "handshake_timeout_ms", field: "handshakeTimeoutMs", kind: int(100, 600_000), default: "10000", spec: false,
    doc: "a peer connection that has not finished its handshake by then is dropped" },
  { key: "keepalive_ms", field: "keepaliveMs", kind: int(50, 3_600_000), default: "5000", spec: false,
    doc: "PING interval on idle peer links; a link silent for 3 intervals is dropped" },
  { key: "shuffle_interval_ms", field: "shuffleIntervalMs", kind: int(50, 3_600_000), default: "10000", spec: false,
    doc: "interval of the SHUFFLE random walk that refreshes the passive view" },
  { key: "graft_timeout_ms", field: "graftTimeoutMs", kind: int(10, 600_000), default: "200", spec: false,
    doc: "how long an IHAVE may go unanswered by the item before we GRAFT the announcer (once more, at most, when the node was too busy to run the timer on time)" },
  { key: "ihave_batch_ms", field: "ihaveBatchMs", kind: int(0, 60_000), default: "50", spec: false,
    doc: "IHAVE announcements to a lazy peer are batched over this window (0: sent at once, up to half of peer_control_per_s a second per link, past that batched over 50 ms)" },
  { key: "graft_buffer_bytes", field: "graftBufferBytes", kind: int(0, 1 << 30), default: "16777216", spec: false,
    doc: "items past the knowledge base (cache_size) are still held while neighbours may GRAFT them (plumtree: ihave_batch_ms + 3 graft timeouts) and all items held weigh at most this many bytes; 0: only the knowledge base answers GRAFTs" },
  { key: "max_handshakes", field: "maxHandshakes", kind: int(1, 10_000), default: "64", spec: false,
    doc: "peer connections allowed in the handshake at once; more are refused" },
  { key: "peer_send_buffer_bytes", field: "peerSendBufferBytes", kind: int(65_536, 1 << 30), default: "8388608", spec: false,
    doc: "bytes queued for a peer that is not reading before it is dropped" },
  { key: "peer_items_per_s", field: "peerItemsPerS", kind: int(1, 1_000_000), default: "2000", spec: false,
    doc: "items per second accepted from one peer (token bucket, burst of the same size); excess is dropped. Also the most item copies sent to one peer a second: past that a copy waits (up to two seconds' worth), then is skipped, so a local burst never gets this node banned by neighbours on the same setting" },
  { key: "seen_cache_size", field: "seenCacheSize", kind: int(16, 10_000_000), default: "100000", spec: false,
    doc: "hard bound on remembered item ids (besides suppress_s expiry); at least cache_size, since a new neighbour is offered the items held and must still know their ids" },
  { key: "peer_control_per_s", field: "peerControlPerS", kind: int(1, 1_000_000), default: "200", spec: false,
    doc: "membership and IHAVE/GRAFT/PRUNE messages per second accepted from one peer; excess is dropped and costs score" },
  { key: "ban_score", field: "banScore", kind: int(1, 1_000_000), default: "100", spec: false,
    doc: "a peer whose score falls to -ban_score is disconnected and banned (invalid item -20, protocol violation -60, flooding -2 per message dropped (items: past a second's worth of drops, forgiven as bunching, refilled over 10 s), valid item +1 up to +50)" },
  { key: "ban_s", field: "banS", kind: int(1, 86_400), default: "300", spec: false,
    doc: "seconds a banned peer (its identity, and its source IP unless max_conns_per_ip is 0) is refused" },
  { key: "max_conns_per_ip", field: "maxConnsPerIp", kind: int(0, 100_000), default: "16", spec: false,
    doc: "peer connections accepted at once from one source IP; 0: no limit, and bans hold identities only, not IPs (local test networks, NAT)" },
  { key: "view_prefix_limit", field: "viewPrefixLimit", kind: int(0, 100_000), default: "3", spec: false,
    doc: "entries of each view that may share a /24 (IPv4) or /48 (IPv6) prefix before it counts as crowded: a crowded prefix fills only room nobody else wants and is evicted first, so one host posing as many peers cannot crowd out others, while hosts of one LAN still fill each other's views; 0: off" },
  { key: "api_announces_per_s", field: "apiAnnouncesPerS", kind: int(1, 1_000_000), default: "5000", spec: false,
    doc: "ANNOUNCEs per second accepted from one module connection (burst of the same size); excess is dropped and logged" },
  { key: "offer_recent_ms", field: "offerRecentMs", kind: int(0, 600_000), default: "120000", spec: false,
    doc: "items of the knowledge base spread within this window are offered to a new neighbour (IHAVE; flood: sent), so a broadcast made while links change, or on the other side of a partition, is not lost; at most half of suppress_s (so nobody gets an item twice); 0: off" },
  { key: "refresh_interval_ms", field: "refreshIntervalMs", kind: int(0, 86_400_000), default: "60000", spec: false,
    doc: "every this often (at a random point of each interval) a node below its degree links to a random passive or remembered peer with high priority, and a full node to a peer it lost or could not reach, so overlays split by a partition (or by the order of joins) merge again; 0: off" },
  { key: "admin_address", field: "adminAddress", kind: { type: "address", optional: true }, default: undefined, spec: false,
    doc: "where the admin HTTP listener serves GET /metrics (Prometheus) and GET /status (JSON, read by `gossip status`); absent: off; keep it on loopback (another host is allowed with a warning)" },
  { key: "advertise_address", field: "advertiseAddress", kind: { type: "address", optional: true }, default: undefined, spec: false,
    doc: "host:port other peers are told to dial us at (behind NAT, or when p2p_address is a wildcard, which then requires it); absent: p2p_address" },
  { key: "state_dir", field: "stateDir", kind: { type: "path" }, default: undefined, spec: false,
    doc: "directory of the state file `<config name>-<hash of the config's path>.state` (known peers and recently delivered item ids, rewritten atomically every few seconds and at shutdown; read at start so a restarted node rejoins through peers it knew and, after a clean stop, delivers nothing twice; after a crash, items delivered in the last 5 s may come again); may be shared by several nodes, and one state file is locked by the running node that writes it; created at start if absent; absent: the config file's directory (file `<config name>.state`); off: no state file" },
];

/** Built-in defaults: `gossip run` without -c. */
export const DEFAULT_CONFIG_TEXT = GOSSIP_KEYS.filter((k) => k.default !== undefined)
  .map((k) => `${k.key} = ${k.default}`)
  .join("\n");
