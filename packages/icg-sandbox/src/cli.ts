#!/usr/bin/env node
import { startIcgSandbox } from './index';

const USAGE = 'usage: icg-sandbox [--port N] [--host H]';

/** --port N / --host H (or --port=N); argv only, since the project reads the environment in src/config.ts alone. */
function parseArgs(argv: readonly string[]): { port: number; host: string } | string {
  const parsed = { port: 4010, host: '127.0.0.1' };
  const queue = argv.flatMap((arg) => (/^--\w+=/.test(arg) ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg]));
  while (queue.length > 0) {
    const flag = queue.shift();
    const value = queue.shift();
    if (flag !== '--port' && flag !== '--host') return `unknown argument '${flag ?? ''}'`;
    if (value === undefined || value === '') return `${flag} needs a value`;
    if (flag === '--host') parsed.host = value;
    else if (/^\d{1,5}$/.test(value) && Number(value) <= 65535) parsed.port = Number(value);
    else return `--port: expected a port number from 0 to 65535, got '${value}'`;
  }
  return parsed;
}

/** Runs the sandbox standalone (bench, manual testing) until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    process.stderr.write(`icg-sandbox: ${args}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const sandbox = await startIcgSandbox(args);
  process.stdout.write(
    `iCG sandbox listening on ${sandbox.url} (client_id sandbox-client, username sandbox-merchant; admin under ${sandbox.url}/__sandbox/)\n`,
  );
  const stop = (signal: NodeJS.Signals): void => {
    process.stdout.write(`icg-sandbox: ${signal}, closing\n`);
    sandbox.close().then(
      () => undefined,
      () => {
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`icg-sandbox: failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exitCode = 1;
});
