import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True when something answers PING at host:port within `timeoutMs` (with `orAsksForPassword`, a NOAUTH answer counts too). */
export async function redisAnswers(port: number, host = '127.0.0.1', timeoutMs = 500, orAsksForPassword = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      const reply = data.toString();
      done(reply.startsWith('+PONG') || (orAsksForPassword && reply.startsWith('-NOAUTH')));
    });
  });
}

/**
 * A throwaway redis-server of a test's own, so the test can kill it and start it again on the same
 * port (what a Redis restart looks like to the service).
 */
export class RedisProcess {
  #child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
  ) {}

  /** Starts a redis-server on `port` (a free one by default) with `extraArgs` (e.g. `--maxmemory-policy allkeys-lru`). */
  static async start(port?: number, extraArgs: readonly string[] = []): Promise<RedisProcess> {
    const redis = new RedisProcess(port ?? (await freePort()), extraArgs);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) and waits until it answers. */
  async restart(): Promise<void> {
    if (this.#child) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extraArgs], {
      stdio: 'ignore',
    });
    child.once('error', () => undefined);
    this.#child = child;
    const deadline = Date.now() + 5000;
    while (!(await redisAnswers(this.port, '127.0.0.1', 500, true))) {
      if (Date.now() > deadline) throw new Error('redis-server did not start: is it installed (apt-get install redis-server)?');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGSTOP: the server keeps its sockets open but answers nothing (a hung Redis). */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** SIGKILL: no goodbye to clients, exactly like a crashed or partitioned Redis. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    const exited = once(child, 'exit');
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}
