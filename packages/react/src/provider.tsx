/**
 * `TaskPulseProvider`: puts one client in React context. Give it a client you made with
 * `createClient` (you close it), or client options (the provider makes the client once and
 * closes it when it unmounts).
 */
import { createClient, type ClientOptions, type TaskPulseClient } from '@taskpulse/client';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';

/** Props of {@link TaskPulseProvider}: exactly one of `client` and `options`. */
export type TaskPulseProviderProps =
  | {
      /** A client you created (and will close). */
      client: TaskPulseClient;
      options?: undefined;
      children?: ReactNode;
    }
  | {
      /**
       * Options for `createClient`. Read once, on the first render: later changes are ignored
       * (give the provider a new `key` to start a new client).
       */
      options: ClientOptions;
      client?: undefined;
      children?: ReactNode;
    };

const TaskPulseContext = createContext<TaskPulseClient | null>(null);
TaskPulseContext.displayName = 'TaskPulseContext';

/**
 * Holds the client the provider owns. It is created on first use in render, not in the
 * `useState` initializer: StrictMode calls initializers twice and drops one result, and a
 * dropped client would keep its connection open.
 */
class OwnedClient {
  readonly #options: ClientOptions;
  #client: TaskPulseClient | null = null;
  #mounted = 0;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  get(): TaskPulseClient {
    this.#client ??= createClient(this.#options);
    return this.#client;
  }

  mount(): () => void {
    this.#mounted++;
    return () => {
      this.#mounted--;
      // StrictMode unmounts and mounts again at once: close only if still unmounted a turn later.
      setTimeout(() => {
        if (this.#mounted === 0) void this.#client?.close();
      }, 0);
    };
  }
}

/**
 * Makes a TaskPulse client available to {@link useTask}, {@link useTasks},
 * {@link useConnectionState}, {@link useNotifications} and {@link useTaskPulseClient}.
 *
 * @example
 * ```tsx
 * <TaskPulseProvider options={{ url: 'https://tasks.example.com', getToken: fetchViewerToken }}>
 *   <App />
 * </TaskPulseProvider>
 * ```
 */
export function TaskPulseProvider(props: TaskPulseProviderProps): ReactNode {
  const { client: given, options, children } = props;
  if ((given === undefined) === (options === undefined)) {
    throw new TypeError('TaskPulseProvider needs exactly one of `client` and `options`');
  }
  const [owned] = useState(() => (options !== undefined ? new OwnedClient(options) : null));
  if (owned === null && given === undefined) {
    throw new TypeError('TaskPulseProvider was created with `options`; it cannot switch to `client` (give it a new `key`)');
  }
  const client = given ?? owned!.get();
  useEffect(() => owned?.mount(), [owned]);
  return <TaskPulseContext.Provider value={client}>{children}</TaskPulseContext.Provider>;
}

/**
 * The client of the nearest {@link TaskPulseProvider}, for calls the hooks do not cover
 * (`cancel`, `listTasks`, `diagnostics()`). Throws outside a provider.
 */
export function useTaskPulseClient(): TaskPulseClient {
  const client = useContext(TaskPulseContext);
  if (client === null) throw new Error('useTaskPulseClient: wrap this component in <TaskPulseProvider>');
  return client;
}
