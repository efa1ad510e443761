import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openApiDocument } from '../../src/http/openapi';

/**
 * `npm run lint:openapi`: writes the document GET /openapi.json serves to a temporary file and lints
 * it with the real Redocly CLI under redocly.yaml (Redocly's recommended rules, warnings counted as
 * errors). Exits with the CLI's status.
 */
const root = path.resolve(__dirname, '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'icg-bff-openapi-'));
const file = path.join(dir, 'openapi.json');
try {
  writeFileSync(file, `${JSON.stringify(openApiDocument, null, 2)}\n`);
  const cli = path.join(root, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
  const result = spawnSync(process.execPath, [cli, 'lint', '--config', path.join(root, 'redocly.yaml'), ...process.argv.slice(2), file], {
    stdio: 'inherit',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true' },
  });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
