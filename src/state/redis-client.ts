import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';

/** One Redis server (or a Sentinel-managed master), or a Redis Cluster: ioredis' two clients. */
export type RedisClient = Redis | Cluster;

/** The servers that hold data: the masters of a cluster, or the one server. */
export function masters(client: RedisClient): Redis[] {
  return client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
}

/** One slot served by each master of a cluster, as last known (none before the slots are known). */
export function oneSlotPerMaster(cluster: Cluster): number[] {
  const firstSlotOf = new Map<string, number>();
  cluster.slots.forEach((nodes, slot) => {
    const master = nodes[0];
    if (master !== undefined && !firstSlotOf.has(master)) firstSlotOf.set(master, slot);
  });
  return [...firstSlotOf.values()];
}

/**
 * Runs one command per key with one pipeline per server: on a cluster, each key goes to the master
 * that serves its slot as last known (a redirection, mid-resharding, fails the batch: the caller
 * tries again later). For the thousands of per-slot epoch keys, which one by one would crowd out the
 * pays' own commands.
 */
export async function perKeyPipelined(client: RedisClient, keys: readonly string[], command: (key: string) => [string, ...string[]]): Promise<unknown[]> {
  const batches = new Map<Redis, { indexes: number[]; commands: [string, ...string[]][] }>();
  const byAddress = new Map(masters(client).map((node) => [`${String(node.options.host)}:${String(node.options.port)}`, node]));
  keys.forEach((key, index) => {
    const node = client.isCluster ? byAddress.get((client as Cluster).slots[calculateSlot(key)]?.[0] ?? '') : (client as Redis);
    if (!node) throw new Error(`no known master serves the slot of ${key}`);
    const batch = batches.get(node) ?? { indexes: [], commands: [] };
    batch.indexes.push(index);
    batch.commands.push(command(key));
    batches.set(node, batch);
  });
  const results = new Array<unknown>(keys.length);
  await Promise.all(
    [...batches].map(async ([node, batch]) => {
      const replies = (await node.pipeline(batch.commands).exec()) ?? [];
      replies.forEach(([error, value], i) => {
        if (error) throw error;
        results[batch.indexes[i] ?? 0] = value;
      });
    }),
  );
  return results;
}
