// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.js';
import type { ConfirmRequest, Notice, Ui } from '../ui.js';

/** The confirmation every changing action goes through; Escape or "Keep as is" says no. */
export function ConfirmDialog({
  request,
  onClose,
  notify,
}: {
  request: ConfirmRequest;
  onClose: () => void;
  notify: Ui['notify'];
}) {
  const [busy, setBusy] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancelRef.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [request]);
  const run = async () => {
    setBusy(true);
    try {
      notify(await request.run(), 'ok');
    } catch (error) {
      notify(`${request.action} refused: ${errorText(error)}`, 'error');
    } finally {
      onClose();
    }
  };
  return (
    <div class="backdrop">
      <div class="dialog" role="alertdialog" aria-modal="true" aria-label={request.title}>
        <h2>{request.title}</h2>
        <p>{request.body}</p>
        <footer>
          <button type="button" ref={cancelRef} onClick={onClose} disabled={busy}>
            Keep as is
          </button>
          <button
            type="button"
            class={request.danger ? 'danger' : 'primary'}
            data-confirm
            onClick={run}
            disabled={busy}
          >
            {request.action}
          </button>
        </footer>
      </div>
    </div>
  );
}

export function Notices({ notices }: { notices: readonly Notice[] }) {
  return (
    <div class="notices" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} class={`notice ${n.kind}`}>
          {n.text}
        </div>
      ))}
    </div>
  );
}
