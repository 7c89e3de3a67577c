import { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import { backoffDelay } from '../../src/client/backoff.js';
import { ErrorCode } from '../../src/client/proto.js';
import { createReportLedger, type ReportLedger, type ReportOutcome } from '../../src/client/report-ledger.js';

const started = () => ({ case: 'started' as const, value: { seq: 0, taskId: 't', attempt: 1 } });

/** Adds a report and returns how it settled, as a promise. */
function add(ledger: ReportLedger): Promise<ReportOutcome> {
  return new Promise((resolve, reject) =>
    ledger.add(started(), (outcome) => (typeof outcome === 'string' ? resolve(outcome) : reject(outcome))),
  );
}

describe('client report ledger', () => {
  it('gives each outstanding report its own seq and writes each once per session', async () => {
    const ledger = createReportLedger();
    const a = add(ledger);
    const b = add(ledger);
    const first = ledger.takeUnsent(1);
    expect(first.map((r) => r.value.seq)).to.deep.equal([1, 2]);
    expect(ledger.takeUnsent(1)).to.be.empty;
    expect(ledger.takeUnsent(2).map((r) => r.value.seq)).to.deep.equal([1, 2]); // a new session: all again
    ledger.settle({ seq: 1, ok: true });
    ledger.settle({ seq: 2, ok: false, error: { code: ErrorCode.ABORTED } as never });
    expect(await a).to.equal('applied');
    expect(await b).to.equal('stale');
    expect(ledger.size).to.equal(0);
    expect(ledger.settle({ seq: 1, ok: true })).to.equal(false);
  });

  it('keeps a report refused as UNAVAILABLE, to be written again, and settles it once', () => {
    const ledger = createReportLedger();
    const outcomes: unknown[] = [];
    ledger.add(started(), (outcome) => outcomes.push(outcome));
    expect(ledger.takeUnsent(1)).to.have.length(1);
    const unavailable = { code: ErrorCode.UNAVAILABLE } as never;
    expect(ledger.settle({ seq: 1, ok: false, error: unavailable })).to.equal(true);
    expect(outcomes).to.be.empty;
    expect(ledger.takeUnsent(1)).to.have.length(1); // written again on the same session
    ledger.settle({ seq: 1, ok: true });
    ledger.settle({ seq: 1, ok: true });
    expect(outcomes).to.deep.equal(['applied']);
  });

  it('settles outstanding and later reports with the error once closed, after the closer returns', async () => {
    const ledger = createReportLedger();
    const pending = add(ledger);
    let settledDuringClose = false;
    void pending.catch(() => {});
    ledger.close(Object.assign(new Error('stopped'), { code: Code.Canceled }) as never);
    ledger.add(started(), () => {
      settledDuringClose = true;
    });
    expect(settledDuringClose).to.equal(false);
    for (const p of [pending, add(ledger)]) {
      try {
        await p;
        expect.fail('should reject');
      } catch (e) {
        expect((e as Error).message).to.equal('stopped');
      }
    }
    expect(settledDuringClose).to.equal(true);
  });
});

describe('client reconnect backoff', () => {
  it('doubles up to the cap, with half of each delay random', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(0, options, () => 0)).to.equal(50);
    expect(backoffDelay(0, options, () => 1)).to.equal(100);
    expect(backoffDelay(2, options, () => 1)).to.equal(400);
    expect(backoffDelay(10, options, () => 0.5)).to.equal(750);
    expect(backoffDelay(1_000, options, () => 1)).to.equal(1_000);
  });
});
