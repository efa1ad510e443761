import { originMatcher, parseOriginPattern, type OriginPattern } from '../../src/origins';

function matcherOf(...entries: string[]): (origin: string) => boolean {
  return originMatcher(entries.map((entry) => parseOriginPattern(entry)).filter((p): p is OriginPattern => p !== null));
}

describe('allowed origins', () => {
  it('matches an exact origin, in any letter case, and its default port written out', () => {
    const isAllowed = matcherOf('https://shop.example.com');
    expect(['https://shop.example.com', 'HTTPS://Shop.Example.com'].map(isAllowed)).toEqual([true, true]);
    expect(['http://shop.example.com', 'https://shop.example.com:8443', 'https://shop.example.com.evil'].map(isAllowed)).toEqual([false, false, false]);
  });

  it('matches exactly one label under a wildcard, never the bare domain, a deeper name or another domain', () => {
    const isAllowed = matcherOf('https://*.shop.example');
    expect(isAllowed('https://eu.shop.example')).toBe(true);
    for (const origin of [
      'https://shop.example',
      'https://a.b.shop.example',
      'https://eu.shop.example.evil',
      'https://euxshop.example',
      'http://eu.shop.example',
      'https://eu.shop.example:8443',
      'https://.shop.example',
      'https://-x.shop.example',
    ]) {
      expect({ origin, allowed: isAllowed(origin) }).toEqual({ origin, allowed: false });
    }
  });

  it("admits a hybrid app's scheme as written, and never Origin: null", () => {
    const isAllowed = matcherOf('capacitor://localhost', 'ionic://localhost');
    expect(['capacitor://localhost', 'ionic://localhost'].map(isAllowed)).toEqual([true, true]);
    expect(['null', 'capacitor://evil', 'http://localhost'].map(isAllowed)).toEqual([false, false, false]);
    expect(parseOriginPattern('null')).toBeNull();
  });
});
