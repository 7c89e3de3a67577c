// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.js';
import type { Model } from './model.js';

/** An action that changes the coordinator: asked for, confirmed in a dialog, then run. */
export interface ConfirmRequest {
  readonly title: string;
  readonly body: string;
  /** The confirm button's label ("Drain", "Cancel task"). */
  readonly action: string;
  readonly danger?: boolean;
  /** Runs the action; resolves with what to tell the operator. */
  readonly run: () => Promise<string>;
}

export interface Notice {
  readonly id: number;
  readonly text: string;
  readonly kind: 'ok' | 'error' | 'info';
}

/** What every view may use: the live model, the API, and the page's own controls. */
export interface Ui {
  readonly api: Api;
  readonly model: Model;
  /** Opens the task details panel (undefined closes it). */
  select(taskId: string | undefined): void;
  confirm(request: ConfirmRequest): void;
  notify(text: string, kind: Notice['kind']): void;
}

export const UiContext = createContext<Ui | undefined>(undefined);

export function useUi(): Ui {
  const ui = useContext(UiContext);
  if (ui === undefined) throw new Error('useUi outside <UiContext.Provider>');
  return ui;
}
