import { ConfigError, loadConfig, withOverrides, type Config } from './config';
import { startService } from './service';

/**
 * Process entry: load and validate the config (exit 1 with the list of bad variables), start the
 * in-process iCG sandbox when no iCG is configured (never in production), serve, and shut down
 * gracefully on SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`icg-bff: ${error.message}\n`);
    process.exit(1);
  }
  const sandbox = config.sandbox ? await startSandbox(config) : null;
  if (sandbox) config = withOverrides(config, { icg: { authUrl: sandbox.url, apiUrl: sandbox.url } });
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * The iCG sandbox, loaded only in sandbox mode: it is a development package, absent from production
 * installs and images, so it is imported by name when needed and never bundled into dist/.
 */
async function startSandbox(config: Config): Promise<{ url: string; close(): Promise<void> }> {
  const { startIcgSandbox } = await import('@icg-bff/icg-sandbox');
  return startIcgSandbox({ clientId: config.icg.clientId.reveal(), username: config.icg.username.reveal(), password: config.icg.password.reveal() });
}

main().catch((error: unknown) => {
  process.stderr.write(`icg-bff: failed to start: ${error instanceof Error ? error.message : 'unknown error'}\n`);
  process.exit(1);
});
