// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useUi } from '../ui.js';
import { Meter } from './meter.js';

function Bucket({ name, available, max }: { name: string; available: number; max: number }) {
  if (max === 0) {
    return (
      <div class="bucket">
        <span class="label">{name}</span>
        <span class="muted">not limited</span>
      </div>
    );
  }
  const share = available / max;
  return (
    <div class="bucket" data-bucket={name}>
      <span class="label">{name}</span>
      <Meter
        share={share}
        tone={share < 0.1 ? 'bad' : share < 0.3 ? 'warn' : 'ok'}
        label={`${name} available`}
      />
      <span class="count">
        {available.toLocaleString()} / {max.toLocaleString()}
      </span>
    </div>
  );
}

/** The shared rate limiter: what each bucket holds now, who waits, and what each worker used. */
export function RateLimit() {
  const { model } = useUi();
  const rate = model.status?.rateLimit;
  if (rate === undefined) return <section class="card">Loading the rate limiter…</section>;
  const most = Math.max(1, ...rate.workers.map((w) => Number(w.tokens)));
  return (
    <section class="card rate" aria-label="Rate limiter">
      <header>
        <h2>Rate limiter</h2>
        <span class="muted">
          <b data-testid="rate-waiters">{rate.queueLength}</b> waiting · {rate.outstandingReservations}{' '}
          reserved
        </span>
      </header>
      <Bucket name="requests / min" available={rate.availableRequests} max={rate.maxRequestsPerMinute} />
      <Bucket name="tokens / min" available={rate.availableTokens} max={rate.maxTokensPerMinute} />
      {rate.workers.length === 0 ? (
        <p class="muted">No worker has asked for capacity yet.</p>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th>Worker</th>
              <th class="num">Requests</th>
              <th>Tokens</th>
              <th class="num">Waited</th>
            </tr>
          </thead>
          <tbody>
            {rate.workers.map((w) => (
              <tr key={w.workerId}>
                <td class="id">{w.workerId}</td>
                <td class="num">{w.requests.toLocaleString()}</td>
                <td>
                  <div class="cell-bar wide-count">
                    <Meter share={Number(w.tokens) / most} tone="info" label={`${w.workerId} tokens`} />
                    <span class="count">{w.tokens.toLocaleString()}</span>
                  </div>
                </td>
                <td class={`num ${w.denials > 0n ? 'warn' : ''}`}>{w.denials.toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
