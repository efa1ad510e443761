import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';

/**
 * The OpenAPI document as a contract a typed client can use: the client openapi-typescript generates
 * from it (into a temporary directory) must type-check a frontend's usage (pay with a card, with a
 * bank account, retry with the same key) and must refuse a field of the wrong type, under the repo's
 * own strict compiler options. The committed copy of the generated types (what the usage files are
 * written against in the repo) must be the one the document generates today.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const GENERATED_CLIENT = path.join(__dirname, 'generated', 'icg-bff.d.ts');
const GENERATOR = path.join(__dirname, 'generate-client.ts');
const REGENERATE_COMMAND = `npx tsx ${path.relative(ROOT, GENERATOR)}`;
const USAGE_DIR = path.join(__dirname, 'usage');
/** The marker for an expected error (on the line after it) in the wrong-field-type usage file. */
const EXPECTED_ERROR = /\/\/ @ts-expect-error -- (.*)$/;

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly code: number;
  readonly message: string;
}

/** `tsc --noEmit` over `files` with the repo's compiler options: every diagnostic, by file and line (1-based). */
function typeCheck(files: readonly string[]): Finding[] {
  const read = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  // The repo's strictness (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, lib …); no emit, no global types.
  const options = { ...ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT).options };
  delete options.rootDir;
  delete options.outDir;
  const program = ts.createProgram(files, { ...options, noEmit: true, types: [], sourceMap: false });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const position = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start) : undefined;
    return {
      file: diagnostic.file ? path.basename(diagnostic.file.fileName) : '(global)',
      line: (position?.line ?? -1) + 1,
      code: diagnostic.code,
      message: ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
    };
  });
}

/** The first line where two texts differ (1-based), for a readable failure. */
function firstDifference(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  const index = left.findIndex((line, i) => line !== right[i]);
  return (index === -1 ? Math.min(left.length, right.length) : index) + 1;
}

describe('a TypeScript client generated from the OpenAPI document (openapi-typescript + openapi-fetch)', () => {
  let dir = '';
  let generated = '';
  let findings: Finding[];
  /** Lines of wrong-field-type.ts where an error is expected, with the reason the marker gives. */
  const expected: { line: number; reason: string }[] = [];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'icg-bff-client-'));
    mkdirSync(path.join(dir, 'generated'));
    mkdirSync(path.join(dir, 'usage'));
    // In a process of its own: openapi-typescript needs require(esm), which Node has and jest's module system lacks.
    const fresh = path.join(dir, 'generated', 'icg-bff.d.ts');
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), GENERATOR, fresh], { cwd: ROOT, stdio: 'pipe' });
    generated = readFileSync(fresh, 'utf8');
    // openapi-fetch (and TypeScript's lib) as the repo has them.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    writeFileSync(path.join(dir, 'usage', 'pay.ts'), readFileSync(path.join(USAGE_DIR, 'pay.ts')));
    const wrong = readFileSync(path.join(USAGE_DIR, 'wrong-field-type.ts'), 'utf8')
      .split('\n')
      .map((line, index) => {
        const marker = EXPECTED_ERROR.exec(line);
        if (!marker) return line;
        expected.push({ line: index + 2, reason: marker[1] ?? '' });
        return line.replace(EXPECTED_ERROR, `// expected error: ${marker[1] ?? ''}`);
      })
      .join('\n');
    writeFileSync(path.join(dir, 'usage', 'wrong-field-type.ts'), wrong);
    findings = typeCheck([path.join(dir, 'usage', 'pay.ts'), path.join(dir, 'usage', 'wrong-field-type.ts')]);
  }, 60_000);

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('is the copy committed in test/contract/generated', () => {
    const committed = readFileSync(GENERATED_CLIENT, 'utf8');
    if (committed !== generated)
      throw new Error(
        `${path.relative(ROOT, GENERATED_CLIENT)} is out of date (first difference at line ${String(firstDifference(committed, generated))}): run \`${REGENERATE_COMMAND}\``,
      );
  });

  it('type-checks paying with a card and with a bank account, and retrying with the same key', () => {
    expect(findings.filter((finding) => finding.file !== 'wrong-field-type.ts')).toEqual([]);
  });

  it('refuses a field of the wrong type', () => {
    expect(expected.map((error) => error.reason)).toEqual(['Amount is a number, not text', 'CardNumber is text (its digits), not a number']);
    const errors = findings.filter((finding) => finding.file === 'wrong-field-type.ts');
    expect(errors.map(({ line, code }) => ({ line, code }))).toEqual(expected.map(({ line }) => ({ line, code: 2322 })));
    expect(errors[0]?.message).toContain("Type 'string' is not assignable to type 'number'");
    expect(errors[1]?.message).toMatch(/^Type '\{ CardNumber: number;[^']*' is not assignable to type/);
  });
});
