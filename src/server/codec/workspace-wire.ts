// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { MergeEntry as CoreMergeEntry, MergeCheck } from '../workspaces/merge-entry.js';
import {
  type Conflict,
  ConflictSchema,
  type MergeEntry,
  MergeEntrySchema,
  MergeState,
  type Workspace,
  WorkspaceSchema,
} from './proto.js';

const MERGE_STATE: Record<CoreMergeEntry['state'], MergeState> = {
  queued: MergeState.QUEUED,
  checking: MergeState.CHECKING,
  landed: MergeState.LANDED,
  rejected: MergeState.REJECTED,
};

export const workspaceToWire = (
  space: { workerId: string; branch: string; path: string; base: string; createdAt: number },
  head: string,
): Workspace =>
  create(WorkspaceSchema, {
    workerId: space.workerId,
    branch: space.branch,
    path: space.path,
    base: space.base,
    head,
    createdAt: timestampFromMs(space.createdAt),
  });

export const conflictToWire = (
  pair: { a: string; b: string; paths: readonly string[] },
  heads: { a: string; b: string },
): Conflict =>
  create(ConflictSchema, {
    branch: pair.a,
    other: pair.b,
    paths: [...pair.paths],
    head: heads.a,
    otherHead: heads.b,
  });

export const mergeEntryToWire = (entry: CoreMergeEntry, check?: MergeCheck): MergeEntry =>
  create(MergeEntrySchema, {
    id: entry.id,
    branch: entry.branch,
    head: entry.head,
    state: MERGE_STATE[entry.state],
    reason:
      entry.state === 'rejected'
        ? (entry.rejection?.message ?? '')
        : entry.state === 'landed'
          ? ''
          : (entry.retrying ?? ''),
    by: entry.by,
    landedAs: entry.landedAs ?? '',
    checkOutput: check?.output ?? '',
    queuedAt: timestampFromMs(entry.enqueuedAt),
    updatedAt: timestampFromMs(entry.updatedAt),
  });
