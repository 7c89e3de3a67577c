// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useState } from 'preact/hooks';
import { readToken, writeToken } from '../token.js';

/** Shown when the server checks tokens and refused the page: asks for one, then starts again. */
export function SignIn({ error }: { error: string }) {
  const [token, setToken] = useState('');
  const had = readToken() !== undefined;
  return (
    <section class="card sign-in" aria-label="Sign in">
      <h2>This coordinator checks tokens</h2>
      <p>
        {had ? 'The token given was refused' : 'The page needs a token'}: <span class="muted">{error}</span>
      </p>
      <p class="muted">
        A reader token shows everything; cancel and retry need an operator's, start, drain and stop an admin's
        (`baton token create`). The token stays in this tab only.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          writeToken(token);
          location.reload();
        }}
      >
        <input
          type="password"
          autocomplete="off"
          placeholder="baton_…"
          aria-label="Token"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Use this token
        </button>
      </form>
    </section>
  );
}
