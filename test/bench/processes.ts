import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server the bench started in its own process. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
}

const running = new Set<ChildProcess>();

/** Spawns a server (stdout/stderr to `logFd`, else ignored) and waits until `url + readyPath` answers any HTTP status. */
export async function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  url: string,
  readyPath: string,
  logFd?: number,
): Promise<Started> {
  const output = logFd ?? 'ignore';
  const child = spawn(command, [...args], { env: { ...process.env, ...env }, stdio: ['ignore', output, output] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited during start-up`);
    try {
      const response = await fetch(`${url}${readyPath}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return { name, child, url };
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${name} did not answer at ${url}${readyPath}`);
      }
      await sleep(100);
    }
  }
}

/** The Node flags `npm start` runs the service with (package.json's start script: `node <flags> dist/main.js`). */
export function startScriptNodeFlags(root: string): string[] {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return (manifest.scripts['start'] ?? '').split(/\s+/).filter((word) => word.startsWith('--'));
}

/** SIGTERM, SIGKILL after 10 s; resolves when the process is gone. */
export async function stop(started: Started): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Kills every child still running (exit, error, Ctrl-C). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function statusKb(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory now, in MB. */
export function rssMb(pid: number): number {
  return statusKb(pid, 'VmRSS') / 1024;
}

/** Peak resident memory (VmHWM) since the process started, in MB. */
export function peakRssMb(pid: number): number {
  return statusKb(pid, 'VmHWM') / 1024;
}
