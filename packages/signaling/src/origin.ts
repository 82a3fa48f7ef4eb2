/** The `Origin` check of WebSocket upgrades (cross-site WebSocket hijacking): which web pages may connect. */

/**
 * Whether an upgrade with this `Origin` header may connect, given the allowed origins (`scheme://host[:port]`,
 * compared after normalising case and default ports). A request without an Origin header (not a browser) is
 * allowed: Origin only constrains pages running in browsers; anything else can claim any origin anyway.
 * `'null'` (sandboxed or file pages) is allowed only when listed.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  const normal = normalizeOrigin(origin);
  if (normal === undefined) return false;
  return allowed.some((a) => normalizeOrigin(a) === normal);
}

/** `scheme://host[:port]` in canonical form (lower case, default port dropped), or undefined if not an origin. */
export function normalizeOrigin(text: string): string | undefined {
  if (text === 'null') return 'null';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) return undefined;
  return url.origin;
}
