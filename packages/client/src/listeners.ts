/**
 * A set of listeners: the client's one subscribe/emit pattern (STYLE: `subscribe` returns the
 * unsubscribe function). `emit` calls the listeners registered when it starts, in order; with
 * `onError`, a listener that throws is reported and the others still run, without it the throw
 * reaches the emitter.
 */
export interface Listeners<T> {
  readonly size: number;
  /** Adds `listener`; returns the function that removes it. */
  add(listener: (value: T) => void): () => void;
  emit(value: T, onError?: (error: unknown) => void): void;
  clear(): void;
}

export function listeners<T = void>(): Listeners<T> {
  const set = new Set<(value: T) => void>();
  return {
    get size() {
      return set.size;
    },
    add(listener) {
      set.add(listener);
      return () => set.delete(listener);
    },
    emit(value, onError) {
      for (const listener of [...set]) {
        try {
          listener(value);
        } catch (error) {
          if (!onError) throw error;
          onError(error);
        }
      }
    },
    clear: () => set.clear(),
  };
}
