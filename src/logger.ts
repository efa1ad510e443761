import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear. We never log headers or bodies on purpose; this list
 * is the second line of defence for a future log call that passes one by mistake.
 */
export const REDACT_PATHS = [
  'authorization',
  'password',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'cookie',
  '*.authorization',
  '*.Authorization',
  '*.cookie',
  '*.Cookie',
  '*.password',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  'headers',
  '*.headers',
  'body',
  '*.body',
  'config',
  '*.config',
];

/**
 * The service's logger: JSON lines with redaction. Pretty output only in development (pino-pretty
 * is a devDependency, so production images never load it). `destination` lets tests capture lines.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'env'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'icg-bff' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination) return pino(options, destination);
  if (config.env === 'development' && isInstalled('pino-pretty')) {
    return pino({ ...options, formatters: {}, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options);
}

function isInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * A gate that opens at most once per `intervalMs`: for warnings that would otherwise repeat on every
 * request while a dependency is down (the metrics count every occurrence; the log says it once).
 */
export function everyMs(intervalMs: number, now: () => number = Date.now): () => boolean {
  let last = -Infinity;
  return () => {
    const current = now();
    if (current - last < intervalMs) return false;
    last = current;
    return true;
  };
}
