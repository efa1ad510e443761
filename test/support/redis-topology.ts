import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { freePort, redisAnswers } from './redis-server';
import { waitFor } from './wait';

const run = promisify(execFile);

/** One redis-server (or sentinel) process of a topology, killed like a crash. */
class Node {
  constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(args: readonly string[], port: number): Promise<Node> {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', () => undefined);
    await waitFor(() => redisAnswers(port), 10_000, `redis-server on port ${String(port)}`, 50);
    return new Node(port, child);
  }

  client(): Redis {
    return new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  }

  /** Runs one command on this node with a connection of its own. */
  async command(...args: [string, ...(string | number)[]]): Promise<unknown> {
    const redis = this.client();
    try {
      await redis.connect();
      return await redis.call(...args);
    } finally {
      redis.disconnect();
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Arguments every data node gets: loopback, no persistence (a restart is empty), DEBUG for lag. */
function dataNodeArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--logfile',
    join(dir, `redis-${String(port)}.log`),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--enable-debug-command',
    'local',
  ];
}

/**
 * Makes `replica` fall behind `master`: it is blocked for `ms` (DEBUG SLEEP) and the master drops its
 * link, so what the master acknowledges from now on reaches the replica only if the master lives long
 * enough to send it again.
 */
async function lag(master: Node, replica: Node, ms: number): Promise<void> {
  const blocked = replica.client();
  await blocked.connect();
  void blocked
    .call('DEBUG', 'SLEEP', String(ms / 1000))
    .catch(() => undefined)
    .finally(() => {
      blocked.disconnect();
    });
  await master.command('CLIENT', 'KILL', 'TYPE', 'replica');
}

/**
 * A master, a replica and three sentinels on loopback, each with a port of its own; failover within a
 * few seconds of the master's death.
 */
export class SentinelTopology {
  static readonly MASTER_NAME = 'icg';

  private constructor(
    private readonly dir: string,
    readonly master: Node,
    readonly replica: Node,
    readonly sentinels: readonly Node[],
  ) {}

  static async start(): Promise<SentinelTopology> {
    const dir = mkdtempSync(join(tmpdir(), 'icg-bff-sentinel-'));
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const sentinelPorts = await Promise.all([freePort(), freePort(), freePort()]);
    const master = await Node.start(dataNodeArgs(masterPort, dir), masterPort);
    const replica = await Node.start([...dataNodeArgs(replicaPort, dir), '--replicaof', '127.0.0.1', String(masterPort)], replicaPort);
    await waitFor(async () => /master_link_status:up/.test(String(await replica.command('INFO', 'replication'))), 10_000, 'the replica in sync');
    const sentinels = await Promise.all(
      sentinelPorts.map(async (port) => {
        const conf = join(dir, `sentinel-${String(port)}.conf`);
        writeFileSync(
          conf,
          [
            `port ${String(port)}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${SentinelTopology.MASTER_NAME} 127.0.0.1 ${String(masterPort)} 2`,
            `sentinel down-after-milliseconds ${SentinelTopology.MASTER_NAME} 1000`,
            `sentinel failover-timeout ${SentinelTopology.MASTER_NAME} 5000`,
            `sentinel parallel-syncs ${SentinelTopology.MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        return Node.start([conf, '--sentinel'], port);
      }),
    );
    const topology = new SentinelTopology(dir, master, replica, sentinels);
    // Every sentinel knows the replica (from the master's INFO) before anything fails.
    await waitFor(
      async () =>
        (await Promise.all(sentinels.map((s) => s.command('SENTINEL', 'REPLICAS', SentinelTopology.MASTER_NAME)))).every(
          (r) => Array.isArray(r) && r.length > 0,
        ),
      15_000,
      'the sentinels to see the replica',
      100,
    );
    return topology;
  }

  get url(): string {
    return `redis+sentinel://${this.sentinels.map((s) => `127.0.0.1:${String(s.port)}`).join(',')}/${SentinelTopology.MASTER_NAME}`;
  }

  /** The port the sentinels name as master (the first that answers). */
  async masterPort(): Promise<number | null> {
    for (const sentinel of this.sentinels) {
      const reply = await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SentinelTopology.MASTER_NAME).catch(() => null);
      if (Array.isArray(reply)) return Number(reply[1]);
    }
    return null;
  }

  lagReplica(ms: number): Promise<void> {
    return lag(this.master, this.replica, ms);
  }

  async stop(): Promise<void> {
    await Promise.all([this.master, this.replica, ...this.sentinels].map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of three masters and three replicas on loopback. */
export class ClusterTopology {
  private constructor(
    private readonly dir: string,
    readonly nodes: Node[],
  ) {}

  static async start(): Promise<ClusterTopology> {
    const dir = mkdtempSync(join(tmpdir(), 'icg-bff-cluster-'));
    const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const nodes = await Promise.all(
      ports.map((port) =>
        Node.start(
          [
            ...dataNodeArgs(port, dir),
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${String(port)}.conf`),
            '--cluster-node-timeout',
            '1000',
          ],
          port,
        ),
      ),
    );
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${String(port)}`), '--cluster-replicas', '1', '--cluster-yes']);
    const topology = new ClusterTopology(dir, nodes);
    await topology.waitUntilHealthy();
    // A replica that never finished its first sync cannot be promoted: wait for every link.
    await waitFor(
      async () =>
        (await Promise.all(nodes.map((node) => node.command('INFO', 'replication')))).every(
          (info) => !/role:slave/.test(String(info)) || /master_link_status:up/.test(String(info)),
        ),
      20_000,
      'every replica in sync',
      200,
    );
    return topology;
  }

  get url(): string {
    return `redis+cluster://${this.nodes
      .slice(0, 3)
      .map((node) => `127.0.0.1:${String(node.port)}`)
      .join(',')}`;
  }

  /** Every live node says the cluster is ok and every slot is served. */
  async isHealthy(): Promise<boolean> {
    const infos = await Promise.all(this.#live().map((node) => node.command('CLUSTER', 'INFO').catch(() => '')));
    return infos.every((info) => /cluster_state:ok/.test(String(info)) && /cluster_slots_ok:16384/.test(String(info)));
  }

  async waitUntilHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.isHealthy(), timeoutMs, 'the cluster healthy', 200);
  }

  /** Makes the replica of master `id` fall behind (see SentinelTopology.lagReplica). */
  async lagReplicaOf(id: string, ms: number): Promise<void> {
    const master = (await this.masters()).find((m) => m.id === id);
    const replicas = String(await master?.node.command('CLUSTER', 'REPLICAS', id));
    const port = Number(/:(\d+)@/.exec(replicas)?.[1]);
    const replica = this.nodes.find((node) => node.port === port);
    if (!master || !replica) throw new Error(`no replica of ${id}`);
    await lag(master.node, replica, ms);
  }

  /** The nodes that are masters now, with their ids and slot counts. */
  async masters(): Promise<{ node: Node; id: string }[]> {
    const text = String(await this.#live()[0]?.command('CLUSTER', 'NODES'));
    return text
      .split('\n')
      .filter((line) => /\bmaster\b/.test(line) && !/\bfail\b/.test(line))
      .map((line) => {
        const [id = '', address = ''] = line.split(' ');
        const port = Number(/:(\d+)@/.exec(address)?.[1]);
        const node = this.nodes.find((n) => n.port === port);
        if (!node) throw new Error(`unknown node ${address}`);
        return { node, id };
      });
  }

  /** Moves `slots` slots from one master to another with redis-cli, while whatever runs keeps running. */
  async reshard(from: string, to: string, slots: number): Promise<void> {
    const entry = this.#live()[0];
    if (!entry) throw new Error('no live node');
    await run('redis-cli', [
      '--cluster',
      'reshard',
      `127.0.0.1:${String(entry.port)}`,
      '--cluster-from',
      from,
      '--cluster-to',
      to,
      '--cluster-slots',
      String(slots),
      '--cluster-yes',
      '--cluster-pipeline',
      '100',
    ]);
  }

  readonly #dead = new Set<Node>();

  async kill(node: Node): Promise<void> {
    this.#dead.add(node);
    await node.kill();
  }

  #live(): Node[] {
    return this.nodes.filter((node) => !this.#dead.has(node));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
