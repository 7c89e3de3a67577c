import type { JsonValue } from '@bufbuild/protobuf';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Event, Progress } from '../../client/proto.js';
import { progressLine } from '../output/progress-view.js';
import { eventLine } from './event-line.js';

/** Where `baton watch` shows what happens: a progress bar on a terminal, lines otherwise. */
export interface WatchDisplay {
  /** An event as it arrives. */
  event(event: Event): void;
  /** The graph's counts after a refresh. */
  progress(progress: Progress): void;
  /** A note for the operator (reconnecting, ...). */
  note(text: string): void;
  /** The last words; the display is done after this. */
  end(summary: string): void;
}

/** The fields of the bar's format that are not cli-progress's own. */
interface BarPayload {
  readonly running: number;
  readonly waiting: number;
  readonly failed: number;
  readonly cancelled: number;
}

const payloadOf = (p: Progress): BarPayload => ({
  running: p.running + p.assigned,
  waiting: p.pending,
  failed: p.failed,
  cancelled: p.cancelled,
});

/**
 * A live bar of the DAG (complete out of total, with running, waiting, failed and cancelled
 * counts and the elapsed time), event lines scrolling above it, as `temporal workflow` does.
 */
export function createBarDisplay(
  stream: NodeJS.WritableStream,
  options: { showEvents: boolean },
): WatchDisplay {
  const bars = new MultiBar({
    stream,
    format:
      '{bar} {percentage}% | {value}/{total} complete | {running} running, {waiting} waiting, {failed} failed, {cancelled} cancelled | {duration_formatted}',
    barCompleteChar: '\u2588',
    barIncompleteChar: '\u2591',
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    gracefulExit: true,
    autopadding: true,
    etaBuffer: 50,
  });
  let bar: SingleBar | undefined;
  return {
    event(event) {
      if (options.showEvents) bars.log(`${eventLine(event)}\n`);
    },
    progress(p) {
      const done = p.complete;
      if (bar === undefined) bar = bars.create(Math.max(p.total, 1), done, payloadOf(p));
      else {
        bar.setTotal(Math.max(p.total, 1));
        bar.update(done, payloadOf(p));
      }
    },
    note(text) {
      bars.log(`${text}\n`);
    },
    end(summary) {
      bars.stop();
      stream.write(`${summary}\n`);
    },
  };
}

/**
 * Event lines for a pipe or a log file: one per event, and a progress line whenever the counts
 * change. With `json`, one JSON object per line (NDJSON: `{"event": ...}` or `{"progress": ...}`,
 * each in the REST API's shape) so a script can follow along.
 */
export function createLineDisplay(
  stream: NodeJS.WritableStream,
  json: ((kind: 'event' | 'progress', value: Event | Progress) => JsonValue) | undefined,
): WatchDisplay {
  let last = '';
  return {
    event(event) {
      stream.write(
        json === undefined ? `${eventLine(event)}\n` : `${JSON.stringify(json('event', event))}\n`,
      );
    },
    progress(p) {
      const line = progressLine(p);
      if (line === last) return;
      last = line;
      stream.write(json === undefined ? `progress: ${line}\n` : `${JSON.stringify(json('progress', p))}\n`);
    },
    note(text) {
      process.stderr.write(`${text}\n`);
    },
    end(summary) {
      if (json === undefined) stream.write(`${summary}\n`);
      else process.stderr.write(`${summary}\n`);
    },
  };
}
