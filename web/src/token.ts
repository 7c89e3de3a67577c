// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).

const KEY = 'baton-token';

/**
 * The bearer token the page sends when the server checks tokens (`baton serve --auth-file`).
 * Kept in sessionStorage: it lives as long as the tab, is never put in a URL, and other sites
 * cannot read it.
 */
export const readToken = (): string | undefined => sessionStorage.getItem(KEY) ?? undefined;

export function writeToken(token: string | undefined): void {
  if (token === undefined || token.trim() === '') sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, token.trim());
}
