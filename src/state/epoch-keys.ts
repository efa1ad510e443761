import calculateSlot from 'cluster-key-slot';

/** Where the deployment epoch lives, relative to the key prefix (a single Redis): see data-loss.ts. */
export const EPOCH_KEY = 'epoch';

const SLOTS = 16384;
let slotTags: string[] | null = null;

/**
 * A hash tag for each of a Redis Cluster's 16384 slots, found once (in milliseconds): short strings
 * whose slot is that slot. `epoch:{<tag>}` then lives on the same slot as any key, so a script can
 * check the epoch next to the record it guards.
 */
function tags(): string[] {
  if (!slotTags) {
    const found: string[] = new Array<string>(SLOTS);
    let count = 0;
    for (let i = 0; count < SLOTS; i += 1) {
      const tag = i.toString(36);
      const slot = calculateSlot(tag);
      if (found[slot] === undefined) {
        found[slot] = tag;
        count += 1;
      }
    }
    slotTags = found;
  }
  return slotTags;
}

/** The epoch key of one cluster slot. */
function slotEpochKey(prefix: string, slot: number): string {
  return `${prefix}${EPOCH_KEY}:{${tags()[slot] ?? ''}}`;
}

/** The epoch key a script touching `key` (with the prefix) checks: one key on a single Redis, the key's own slot in a cluster. */
export function epochKeyFor(prefix: string, key: string, isCluster: boolean): string {
  return isCluster ? slotEpochKey(prefix, calculateSlot(key)) : `${prefix}${EPOCH_KEY}`;
}

/** The epoch keys of the given cluster slots. */
export function epochKeysOfSlots(prefix: string, slots: readonly number[]): string[] {
  return slots.map((slot) => slotEpochKey(prefix, slot));
}

/** Every epoch key: one on a single Redis, one per slot in a cluster. */
export function allEpochKeys(prefix: string, isCluster: boolean): string[] {
  return isCluster ? tags().map((_tag, slot) => slotEpochKey(prefix, slot)) : [`${prefix}${EPOCH_KEY}`];
}
