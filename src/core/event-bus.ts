/**
 * A typed, synchronous event bus: the one place coordination events flow. Listeners run in
 * registration order; a throwing listener does not stop the others (its error goes to `onError`).
 */
export type Listener<T> = (payload: T) => void;

export interface EventBus<Events extends object> {
  on<K extends keyof Events>(kind: K, listener: Listener<Events[K]>): () => void;
  off<K extends keyof Events>(kind: K, listener: Listener<Events[K]>): void;
  emit<K extends keyof Events>(kind: K, payload: Events[K]): void;
  /** Listens to every kind: what bridges (the server's event stream, the store) use. */
  onAny(listener: (kind: keyof Events, payload: Events[keyof Events]) => void): () => void;
  listenerCount(kind?: keyof Events): number;
  /** True when an emit of `kind` would reach someone: lets hot paths skip building a payload. */
  wants(kind: keyof Events): boolean;
}

export interface EventBusOptions {
  onError?: (error: unknown, kind: PropertyKey) => void;
}

export function createEventBus<Events extends object>(options: EventBusOptions = {}): EventBus<Events> {
  const listeners = new Map<keyof Events, Set<Listener<never>>>();
  const anyListeners = new Set<(kind: keyof Events, payload: Events[keyof Events]) => void>();
  const onError =
    options.onError ??
    ((error: unknown) => {
      queueMicrotask(() => {
        throw error;
      });
    });

  const off = <K extends keyof Events>(kind: K, listener: Listener<Events[K]>): void => {
    listeners.get(kind)?.delete(listener as Listener<never>);
  };

  return {
    on(kind, listener) {
      let set = listeners.get(kind);
      if (set === undefined) {
        set = new Set();
        listeners.set(kind, set);
      }
      set.add(listener as Listener<never>);
      return () => off(kind, listener);
    },
    off,
    emit(kind, payload) {
      const set = listeners.get(kind);
      if (set !== undefined) {
        for (const listener of set) {
          try {
            (listener as Listener<typeof payload>)(payload);
          } catch (error) {
            onError(error, kind);
          }
        }
      }
      for (const listener of anyListeners) {
        try {
          listener(kind, payload);
        } catch (error) {
          onError(error, kind);
        }
      }
    },
    onAny(listener) {
      anyListeners.add(listener);
      return () => {
        anyListeners.delete(listener);
      };
    },
    listenerCount(kind) {
      if (kind !== undefined) return listeners.get(kind)?.size ?? 0;
      let n = anyListeners.size;
      for (const set of listeners.values()) n += set.size;
      return n;
    },
    wants: (kind) => anyListeners.size > 0 || (listeners.get(kind)?.size ?? 0) > 0,
  };
}
