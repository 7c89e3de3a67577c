import { globsOverlap, literalPrefix } from './path-glob.js';

/** Who holds a glob that overlaps a wanted one. */
export interface PathConflict {
  readonly holder: string;
  readonly held: string;
  readonly wanted: string;
}

/**
 * The globs held by running tasks, so that two tasks never touch overlapping paths at once. Held
 * globs sit in a tree of their literal prefixes: a wanted glob can only overlap held globs on its
 * own prefix's path from the root or below it, so a query visits those and not every holder.
 */
export interface PathLocks {
  /** Tasks holding globs. */
  readonly size: number;
  /** The first held glob (of another task than `self`) that overlaps one of `globs`. */
  conflict(globs: readonly string[], self?: string): PathConflict | undefined;
  /** Takes `globs` for `holder`, whatever it overlaps: the caller checked `conflict` first. */
  acquire(holder: string, globs: readonly string[]): void;
  release(holder: string): void;
  clear(): void;
  /** The holder of each glob, for a status view. */
  held(): ReadonlyMap<string, readonly string[]>;
}

interface Lock {
  readonly holder: string;
  readonly glob: string;
}

interface PrefixNode {
  readonly children: Map<string, PrefixNode>;
  readonly locks: Lock[];
}

const newNode = (): PrefixNode => ({ children: new Map(), locks: [] });

export function createPathLocks(): PathLocks {
  const root = newNode();
  const byHolder = new Map<string, readonly string[]>();

  const nodeFor = (prefix: readonly string[], create: boolean): PrefixNode | undefined => {
    let node = root;
    for (const segment of prefix) {
      let child = node.children.get(segment);
      if (child === undefined) {
        if (!create) return undefined;
        child = newNode();
        node.children.set(segment, child);
      }
      node = child;
    }
    return node;
  };

  const overlapping = (locks: readonly Lock[], wanted: string, self: string | undefined) => {
    for (const lock of locks) {
      if (lock.holder !== self && globsOverlap(lock.glob, wanted)) {
        return { holder: lock.holder, held: lock.glob, wanted };
      }
    }
    return undefined;
  };

  const inSubtree = (
    node: PrefixNode,
    wanted: string,
    self: string | undefined,
  ): PathConflict | undefined => {
    const found = overlapping(node.locks, wanted, self);
    if (found !== undefined) return found;
    for (const child of node.children.values()) {
      const below = inSubtree(child, wanted, self);
      if (below !== undefined) return below;
    }
    return undefined;
  };

  const conflictOf = (wanted: string, self: string | undefined): PathConflict | undefined => {
    let node: PrefixNode | undefined = root;
    for (const segment of literalPrefix(wanted)) {
      const found = overlapping(node.locks, wanted, self);
      if (found !== undefined) return found;
      node = node.children.get(segment);
      if (node === undefined) return undefined;
    }
    return inSubtree(node, wanted, self);
  };

  /** Removes `holder`'s lock on `glob`, and the nodes that leaves empty. */
  const drop = (holder: string, glob: string): void => {
    const path: PrefixNode[] = [root];
    const prefix = literalPrefix(glob);
    for (const segment of prefix)
      path.push((path[path.length - 1] as PrefixNode).children.get(segment) as PrefixNode);
    const node = path[path.length - 1] as PrefixNode;
    const at = node.locks.findIndex((l) => l.holder === holder && l.glob === glob);
    if (at >= 0) node.locks.splice(at, 1);
    for (let depth = prefix.length; depth > 0; depth--) {
      const n = path[depth] as PrefixNode;
      if (n.locks.length > 0 || n.children.size > 0) break;
      (path[depth - 1] as PrefixNode).children.delete(prefix[depth - 1] as string);
    }
  };

  return {
    get size() {
      return byHolder.size;
    },
    conflict(globs, self) {
      for (const glob of globs) {
        const found = conflictOf(glob, self);
        if (found !== undefined) return found;
      }
      return undefined;
    },
    acquire(holder, globs) {
      if (globs.length === 0) return;
      if (byHolder.has(holder)) this.release(holder);
      byHolder.set(holder, globs);
      for (const glob of globs)
        (nodeFor(literalPrefix(glob), true) as PrefixNode).locks.push({ holder, glob });
    },
    release(holder) {
      const globs = byHolder.get(holder);
      if (globs === undefined) return;
      byHolder.delete(holder);
      for (const glob of globs) drop(holder, glob);
    },
    clear() {
      root.children.clear();
      root.locks.length = 0;
      byHolder.clear();
    },
    held: () => byHolder,
  };
}
