import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { staticImports } from './walls.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/**
 * The server modules `baton` may load before a command runs: leaves that need nothing but
 * node:crypto or @bufbuild/protobuf. `baton token create` writes the auth file format,
 * `baton serve --help` lists the log levels, and `--json` prints the REST API's own JSON.
 */
const LEAVES = new Set([
  'src/server/auth/policy.ts',
  'src/server/auth/tokens.ts',
  'src/server/observability/log-levels.ts',
  'src/server/rest/json.ts',
  'src/server/codec/json-rule.ts',
]);

/** Every file that loading `entry` loads, itself included. */
function loadedBy(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file) || file.startsWith('src/gen/')) continue;
    seen.add(file);
    expect(existsSync(join(root, file)), `${file} (imported) exists`).to.equal(true);
    pending.push(...staticImports(file, readFileSync(join(root, file), 'utf8')));
  }
  return seen;
}

describe('The baton command starts without the server', () => {
  it('loads no module of src/server from its entry point but the dependency-free leaves', () => {
    const loaded = loadedBy('src/cli/main.ts');
    expect(loaded.has('src/cli/commands/tasks-list.ts')).to.equal(true);
    const server = [...loaded].filter((f) => f.startsWith('src/server/') && !LEAVES.has(f));
    expect(server, `loaded at start: ${server.join(', ')}`).to.deep.equal([]);
  });

  it("leaves the server to serve's action, which imports serve-run.ts dynamically", () => {
    const serve = readFileSync(join(root, 'src/cli/commands/serve.ts'), 'utf8');
    expect(serve).to.match(/await import\('\.\/serve-run\.js'\)/);
    expect([...loadedBy('src/cli/commands/serve-run.ts')]).to.include('src/server/server.ts');
  });

  it('follows value imports and skips type-only ones', () => {
    const source =
      "import type { BatonServer } from '../../server/server.js';\n" +
      "import { EXIT } from '../exit-codes.js';\n" +
      "const load = () => import('./serve-run.js');\n";
    expect(staticImports('src/cli/commands/x.ts', source)).to.deep.equal(['src/cli/exit-codes.ts']);
  });
});
