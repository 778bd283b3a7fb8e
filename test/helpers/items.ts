// Items as an origin makes them: the id is the hash of salt, data type and data
// (src/wire/item-id.ts), so a node accepts them. A number as salt fills all 16 bytes with it,
// for distinct, readable, repeatable items.

import { deciderFraction } from "../../src/core/deciders.ts";
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

/** The first of make(from), make(from + 1), ... whose id's decider fraction satisfies `ok`. */
export function itemWhere(make: (n: number) => Gossip, from: number, ok: (fraction: number) => boolean): Gossip {
  for (let n = from; ; n++) {
    const it = make(n);
    if (ok(deciderFraction(it.id))) return it;
  }
}

/**
 * An item whose id starts with two zero bytes: a prune decider at any item rate, once the node
 * has seen two items (src/core/deciders.ts). Found by trying salts 0, 1, 2, ... (the same each time).
 */
export function deciderItem(dataType = 540, data: Uint8Array = new Uint8Array(0)): Gossip {
  const salt = (n: number) => {
    const s = new Uint8Array(16);
    new DataView(s.buffer).setUint32(0, n);
    return s;
  };
  return itemWhere((n) => makeItem({ salt: salt(n), dataType, data }), 0, (f) => f === 0);
}
