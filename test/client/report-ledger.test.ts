import { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import { backoffDelay } from '../../src/client/backoff.js';
import { ErrorCode } from '../../src/client/proto.js';
import { createReportLedger } from '../../src/client/report-ledger.js';

const started = (seq: number) => ({ case: 'started' as const, value: { seq, taskId: 't', attempt: 1 } });

describe('client report ledger', () => {
  it('gives each outstanding report its own seq and writes each once per session', async () => {
    const ledger = createReportLedger();
    const a = ledger.add(started);
    const b = ledger.add(started);
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

  it('rejects outstanding and later reports once closed', async () => {
    const ledger = createReportLedger();
    const pending = ledger.add(started);
    ledger.close(Object.assign(new Error('stopped'), { code: Code.Canceled }) as never);
    for (const p of [pending, ledger.add(started)]) {
      try {
        await p;
        expect.fail('should reject');
      } catch (e) {
        expect((e as Error).message).to.equal('stopped');
      }
    }
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
