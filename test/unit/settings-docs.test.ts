import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readmeWithTable, renderEnvExample, ROOT } from '../support/settings-docs';

describe('the settings documentation', () => {
  it('.env.example lists every setting as src/config/settings.ts declares it (npm run docs:settings rewrites it)', () => {
    expect(readFileSync(path.join(ROOT, '.env.example'), 'utf8')).toBe(renderEnvExample());
  });

  it("the README's table lists every setting as declared", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toBe(readmeWithTable(readme));
  });
});

describe("the README's error table", () => {
  it('names every problem the service answers with, with its status', async () => {
    const { PROBLEMS } = await import('../../src/errors');
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- problems:start -->'), readme.indexOf('<!-- problems:end -->'));
    const rows = table.split('\n').filter((line) => line.startsWith('| '));
    for (const problem of PROBLEMS) {
      const row = rows.find((line) => line.includes(`\`${problem.slug}\``));
      expect({ slug: problem.slug, status: row?.includes(String(problem.status)) }).toEqual({ slug: problem.slug, status: true });
    }
  });
});
