import { expect } from 'chai';
import fc from 'fast-check';
import { globsOverlap, normalizeGlob } from '../../src/core/path-glob.js';
import { expectBatonError } from './expect-baton-error.js';

/** The model: a glob matches a path segment by segment, `**` taking any number of segments. */
function matches(glob: readonly string[], path: readonly string[]): boolean {
  if (glob.length === 0) return path.length === 0;
  const [head, ...rest] = glob as [string, ...string[]];
  if (head === '**') return path.some((_, k) => matches(rest, path.slice(k))) || matches(rest, []);
  if (path.length === 0) return false;
  const pattern = new RegExp(
    `^${head
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return pattern.test(path[0] as string) && matches(rest, path.slice(1));
}

/** A glob claims the paths it matches and everything below them. */
const claims = (glob: string, path: readonly string[]): boolean =>
  path.some((_, k) => matches(glob.split('/'), path.slice(0, k + 1)));

const NAMES = ['a', 'b', 'ab', 'ba', 'aa'];
const universe: string[][] = [];
for (const x of NAMES) {
  universe.push([x]);
  for (const y of NAMES) {
    universe.push([x, y]);
    for (const z of NAMES) universe.push([x, y, z]);
  }
}

describe('Path globs', () => {
  it('normalizes ./ prefixes and trailing slashes', () => {
    expect(normalizeGlob('./src/', 'paths[0]')).to.equal('src');
    expect(normalizeGlob('src/**/*.ts', 'paths[0]')).to.equal('src/**/*.ts');
  });

  it('refuses globs that name no path of the repository, naming the field and the task', () => {
    const cases: [unknown, string][] = [
      ['', 'non-empty'],
      [7, 'non-empty'],
      ['/etc/passwd', 'absolute'],
      ['a//b', 'empty'],
      ['../outside', '".."'],
      ['src\\win', 'separate segments with /'],
      ['src/[ab].ts', 'character class'],
      ['src/{a,b}', 'brace'],
      ['src/a**', 'whole segment'],
      ['x'.repeat(2000), 'at most'],
    ];
    for (const [raw, why] of cases) {
      const error = expectBatonError(
        () => normalizeGlob(raw, 'paths[2]', 't1'),
        'invalid-argument',
        why,
        'task t1',
      );
      expect(error.field).to.equal('paths[2]');
      expect(error.taskId).to.equal('t1');
    }
  });

  it('finds overlap between a directory and the files below it', () => {
    expect(globsOverlap('src', 'src/a.ts')).to.equal(true);
    expect(globsOverlap('src/a.ts', 'src')).to.equal(true);
    expect(globsOverlap('src/a.ts', 'src/a.ts.bak')).to.equal(false);
    expect(globsOverlap('src/*.ts', 'src/*.md')).to.equal(false);
    expect(globsOverlap('src/**/x.ts', 'src/deep/down/*')).to.equal(true);
    expect(globsOverlap('**', 'anything/at/all')).to.equal(true);
    expect(globsOverlap('docs/*', 'src/*')).to.equal(false);
  });

  it('says two globs overlap exactly when some path is claimed by both (against a brute-force model)', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', '*', '?', 'a*', '*b', '?a', '**');
    const glob = fc
      .array(segment, { minLength: 1, maxLength: 2 })
      .map((s) => s.join('/'))
      .filter((g) => g !== '');
    fc.assert(
      fc.property(glob, glob, (a, b) => {
        const model = universe.some((path) => claims(a, path) && claims(b, path));
        expect(globsOverlap(a, b), `${a} ~ ${b}`).to.equal(model);
        expect(globsOverlap(b, a)).to.equal(model);
      }),
      { numRuns: 400 },
    );
  });
});
