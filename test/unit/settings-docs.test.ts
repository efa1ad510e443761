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
