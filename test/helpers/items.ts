// Items as an origin makes them: the id is the hash of salt, data type and data
// (src/wire/item-id.ts), so a node accepts them. A number as salt fills all 16 bytes with it,
// for distinct, readable, repeatable items.

import { sha256 } from "../../src/util/sha256.ts";
import { gossipItem } from "../../src/wire/item-id.ts";
import type { Gossip } from "../../src/wire/p2p.ts";

export interface ItemSpec {
  readonly salt: Uint8Array | number;
  readonly dataType?: number;
  readonly data?: Uint8Array;
  readonly ttl?: number;
  readonly hops?: number;
}

export function makeItem(o: ItemSpec): Gossip {
  const salt = typeof o.salt === "number" ? new Uint8Array(16).fill(o.salt) : o.salt;
  return gossipItem(sha256, { salt, ttl: o.ttl ?? 3, hops: o.hops ?? 1, dataType: o.dataType ?? 540, data: o.data ?? new Uint8Array(0) });
}

/**
 * An item whose id starts with two zero bytes: a prune decider at any item rate, once the node
 * has seen two items (src/core/deciders.ts). Found by trying salts 0, 1, 2, ... (the same each time).
 */
export function deciderItem(dataType = 540, data: Uint8Array = new Uint8Array(0)): Gossip {
  const salt = new Uint8Array(16);
  for (let n = 0; ; n++) {
    new DataView(salt.buffer).setUint32(0, n);
    const it = makeItem({ salt: salt.slice(), dataType, data });
    if (it.id[0] === 0 && it.id[1] === 0) return it;
  }
}
