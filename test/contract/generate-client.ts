import { writeFileSync } from 'node:fs';
import path from 'node:path';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { format, resolveConfig } from 'prettier';
import { openApiDocument } from '../../src/http/openapi';

/** The typed client's types as committed: what the usage files are written against (and editors show). */
const GENERATED_CLIENT = path.join(__dirname, 'generated', 'icg-bff.d.ts');

/**
 * The TypeScript types openapi-typescript generates from the document GET /openapi.json serves (as an
 * integrator would: `npx openapi-typescript http://…/openapi.json`), formatted like the rest of the repo.
 */
export async function generateClientTypes(): Promise<string> {
  const served = JSON.parse(JSON.stringify(openApiDocument)) as Parameters<typeof openapiTS>[0];
  const ast = await openapiTS(served);
  const header = `${COMMENT_HEADER.trimEnd()}\n// Generated from GET /openapi.json (src/http/openapi.ts) by npx tsx test/contract/generate-client.ts (a test checks it is current).\n\n`;
  const options = (await resolveConfig(GENERATED_CLIENT)) ?? {};
  return format(`${header}${astToString(ast)}`, { ...options, filepath: GENERATED_CLIENT });
}

/** `npx tsx test/contract/generate-client.ts [file]`: writes the types to `file` (default: GENERATED_CLIENT). */
if (require.main === module) {
  const file = path.resolve(process.argv[2] ?? GENERATED_CLIENT);
  generateClientTypes().then(
    (source) => {
      writeFileSync(file, source);
      process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
