import type { Cluster, Redis } from 'ioredis';

/** One Redis server (or a Sentinel-managed master), or a Redis Cluster: ioredis' two clients. */
export type RedisClient = Redis | Cluster;

/** The servers that hold data: the masters of a cluster, or the one server. */
export function masters(client: RedisClient): Redis[] {
  return client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
}
