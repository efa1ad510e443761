/**
 * Which browser origins may call /pay besides this service's own (CORS_ORIGINS). Three kinds of entry:
 * - an http(s) origin: `https://shop.example.com`, `http://localhost:3000`;
 * - a wildcard for exactly one label under a domain: `https://*.shop.example` matches `https://eu.shop.example`,
 *   never `https://shop.example`, `https://a.b.shop.example` or another domain;
 * - a hybrid app's custom scheme: `capacitor://localhost`, `ionic://localhost`, compared as written
 *   (`new URL('capacitor://localhost').origin` is the string 'null', so a URL-based comparison would
 *   also admit `Origin: null`, which sandboxed frames and file:// pages send: it is never allowed).
 */
export type OriginPattern =
  { readonly kind: 'exact'; readonly origin: string } | { readonly kind: 'one-label'; readonly pattern: string; readonly matcher: RegExp };

const FORBIDDEN_SCHEMES = new Set(['file', 'data', 'javascript', 'blob', 'about']);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The pattern an entry of CORS_ORIGINS means, or null when it is none of the three kinds. */
export function parseOriginPattern(entry: string): OriginPattern | null {
  const text = entry.trim().replace(/\/$/, '').toLowerCase();
  if (text === 'null') return null;
  const wildcard = /^(https?):\/\/\*\.([a-z0-9-]+(?:\.[a-z0-9-]+)+)(:\d{1,5})?$/.exec(text);
  if (wildcard) {
    const [, scheme = '', domain = '', port = ''] = wildcard;
    return {
      kind: 'one-label',
      pattern: text,
      matcher: new RegExp(`^${scheme}://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.${escapeRegExp(domain)}${escapeRegExp(port)}$`),
    };
  }
  // A wildcard anywhere else (the bare TLD, a middle label, a port) would be matched literally or too widely.
  if (text.includes('*')) return null;
  if (text.startsWith('http://') || text.startsWith('https://')) {
    if (!URL.canParse(text)) return null;
    const url = new URL(text);
    return url.origin === text || url.origin === text.replace(/:(80|443)$/, '') ? { kind: 'exact', origin: url.origin } : null;
  }
  const custom = /^([a-z][a-z0-9+.-]*):\/\/([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/.exec(text);
  if (!custom || FORBIDDEN_SCHEMES.has(custom[1] ?? '')) return null;
  return { kind: 'exact', origin: text };
}

/** A test for the Origin header against the allowed patterns (case-insensitive, as hosts are). */
export function originMatcher(patterns: readonly OriginPattern[]): (origin: string) => boolean {
  const exact = new Set(patterns.filter((p) => p.kind === 'exact').map((p) => p.origin));
  const wildcards = patterns.flatMap((p) => (p.kind === 'one-label' ? [p.matcher] : []));
  return (origin) => {
    const value = origin.toLowerCase();
    if (value === 'null') return false;
    return exact.has(value) || wildcards.some((matcher) => matcher.test(value));
  };
}
