export {
  ConfigError,
  isSandboxMode,
  loadConfig,
  loadEnvFile,
  sandboxCredentials,
  SANDBOX_CREDENTIALS,
  withOverrides,
  type Config,
  type CredentialSource,
  type IcgSettings,
} from './load-config';
export type { Environment, LogLevel, TrustProxy } from './settings';
