import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { roomOf, wallViolations } from './walls.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return path === 'src/gen' ? [] : sources(path);
    return /\.tsx?$/.test(e.name) ? [path] : [];
  });
}

describe('Architecture walls', () => {
  it('are kept by every file under src', () => {
    const files = sources('src');
    expect(files.length).to.be.greaterThan(50);
    const violations = files.flatMap((f) => wallViolations(f, readFileSync(join(root, f), 'utf8')));
    expect(violations, violations.join('\n')).to.deep.equal([]);
  });

  it('are kept by the dashboard under web/src', () => {
    const files = sources('web/src');
    expect(files.length).to.be.greaterThan(5);
    const violations = files.flatMap((f) => wallViolations(f, readFileSync(join(root, f), 'utf8')));
    expect(violations, violations.join('\n')).to.deep.equal([]);
    expect(
      wallViolations('web/src/x.ts', "import { createAdminClient } from '../../src/client/index.js';\n"),
    ).to.have.length(1);
  });

  it('place a file in the most specific room', () => {
    expect(roomOf('src/server/rest/gateway.ts')).to.equal('src/server/rest');
    expect(roomOf('src/server/server.ts')).to.equal('src/server');
    expect(roomOf('src/core/task-queue.ts')).to.equal('src/core');
    expect(relative(root, join(root, 'src'))).to.equal('src');
  });

  it('refuse the core importing the server or Node I/O', () => {
    const source = "import { x } from '../server/server.js';\nimport { readFileSync } from 'node:fs';\n";
    expect(wallViolations('src/core/task-queue.ts', source)).to.have.length(2);
  });

  it('refuse the client importing the server', () => {
    const source = "import type { BatonServer } from '../server/server.js';\n";
    expect(wallViolations('src/client/worker.ts', source)).to.deep.equal([
      'src/client/worker.ts imports src/server/server.js (src/client may not import src/server)',
    ]);
  });

  it('let transport reach services for types only', () => {
    const typeOnly = "import type { SessionCall } from '../services/worker-service.js';\n";
    const value = "import { createWorkerService } from '../services/worker-service.js';\n";
    expect(wallViolations('src/server/transport/session-fast-path.ts', typeOnly)).to.deep.equal([]);
    expect(wallViolations('src/server/transport/session-fast-path.ts', value)).to.have.length(1);
  });

  it('refuse the store importing the wire codecs', () => {
    const source = "import { ErrorSchema } from '../codec/proto.js';\n";
    expect(wallViolations('src/server/store/sqlite-store.ts', source)).to.have.length(1);
  });
});
