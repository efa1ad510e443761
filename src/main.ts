import { ConfigError, isSandboxMode, loadConfig, loadEnvFile, sandboxCredentials, type Config } from './config';
import { startService } from './service';

interface RunningSandbox {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The iCG sandbox, loaded only in sandbox mode: it is a development package, absent from production
 * installs and images, so it is imported by name when needed and never compiled into dist/.
 */
async function startSandbox(env: NodeJS.ProcessEnv): Promise<RunningSandbox> {
  const { startIcgSandbox } = await import('@icg-bff/icg-sandbox');
  return startIcgSandbox(sandboxCredentials(env));
}

/**
 * Process entry: start the sandbox when no iCG is configured (never in production), load and validate
 * the config (exit 1 with the list of bad variables), serve, shut down gracefully on SIGTERM/SIGINT, and
 * read the credential files again on SIGHUP. A start that cannot be made safe (an unreadable credential
 * file, a Redis that may evict records) exits 1 naming the cause, never a value.
 */
async function main(): Promise<void> {
  loadEnvFile(process.env);
  const sandbox = isSandboxMode(process.env) ? await startSandbox(process.env) : null;
  let config: Config;
  try {
    config = loadConfig(process.env, sandbox ? { sandboxUrl: sandbox.url } : {});
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`icg-bff: ${error.message}\n`);
    process.exit(1);
  }
  const service = await startService(config);
  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    service.logger.info({ event: 'signal', signal }, `received ${signal}`);
    service
      .shutdown()
      .then(() => sandbox?.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
  // Rotated credentials (ICG_*_FILE) take effect at the next login, without a restart.
  process.on('SIGHUP', () => {
    service.reloadCredentials();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`icg-bff: failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
