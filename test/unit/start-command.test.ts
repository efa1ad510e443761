import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** `npm start` and the image run the same command: the heap settings are part of what we measured. */
describe('the start command', () => {
  const startScript = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'] ?? '';
  const dockerCmd = /^CMD (\[.*\])$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '[]';

  it('is node <flags> dist/main.js in package.json', () => {
    expect(startScript).toMatch(/^node( --[a-z-]+=\d+)* dist\/main\.js$/);
  });

  it('is the same in the Dockerfile', () => {
    expect((JSON.parse(dockerCmd) as string[]).join(' ')).toBe(startScript);
  });
});
