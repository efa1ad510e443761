import type { RedisOptions } from 'ioredis';

/** A URL-encoded password, or the text itself when it is not valid percent-encoding. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Parses `redis+sentinel://[:password@]host1:26379,host2:26379/masterName[/db]` (ioredis takes
 * Sentinel only as options, not as a URL) into ioredis options; null for any other URL.
 */
export function sentinelOptions(url: string): RedisOptions | null {
  const match = /^redis\+sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+)\/([^/]+)(?:\/(\d+))?$/.exec(url);
  if (!match) return null;
  const [, password, hosts = '', name = '', db] = match;
  return {
    sentinels: hosts.split(',').map((hostPort) => {
      const [host = '', port = '26379'] = hostPort.split(':');
      return { host, port: Number(port) };
    }),
    name,
    ...(password ? { password: safeDecode(password) } : {}),
    ...(db ? { db: Number(db) } : {}),
  };
}

/**
 * Parses `redis+cluster://[:password@]host1:7000,host2:7001[,…]` (or `rediss+cluster://` for TLS): the
 * seed nodes of a Redis Cluster and its password; null for any other URL.
 */
export function clusterOptions(url: string): { nodes: { host: string; port: number }[]; password?: string; tls: boolean } | null {
  const match = /^(rediss?)\+cluster:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+?)\/?$/.exec(url);
  if (!match) return null;
  const [, scheme, password, hosts = ''] = match;
  const nodes = hosts.split(',').map((hostPort) => {
    const [host = '', port = '6379'] = hostPort.split(':');
    return { host, port: Number(port) };
  });
  if (nodes.some((node) => node.host === '' || !Number.isInteger(node.port) || node.port < 1 || node.port > 65535)) return null;
  return { nodes, ...(password ? { password: safeDecode(password) } : {}), tls: scheme === 'rediss' };
}

/** redis(s)://[:pw@]host[:port][/db], redis+sentinel://[:pw@]h1:port,h2:port/master[/db], or redis(s)+cluster://[:pw@]h1:port,h2:port (not WHATWG URLs). */
export function isRedisUrl(value: string): boolean {
  if (value.startsWith('redis+sentinel:')) return sentinelOptions(value) !== null;
  if (/^rediss?\+cluster:/.test(value)) return clusterOptions(value) !== null;
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'redis:' || url.protocol === 'rediss:') && /^(\/\d{0,5})?$/.test(url.pathname) && url.search === '' && url.hash === '';
}
