import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api/api-client.js';

/** Data loaded from the API: the last value, the error if the last load failed, and a way to reload. */
export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  readonly loading: boolean;
  readonly reload: () => void;
}

/** Loads with `load` whenever `deps` change; a late answer to an old request never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (err: unknown) =>
        mine === generation.current &&
        setState((s) => ({
          ...s,
          loading: false,
          error: err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)),
        })),
    );
  }, deps);
  useEffect(run, [run]);
  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}

/**
 * Listens to the live event stream (Server-Sent Events, with the sign-in cookie) for some event types and
 * calls `onEvent` for each; the browser reconnects by itself. Returns whether the stream is connected.
 */
export function useLiveEvents(
  types: readonly string[],
  onEvent: (type: string, data: unknown) => void,
): boolean {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = types.join(',');
  useEffect(() => {
    const source = new EventSource(`/v1/events?type=${encodeURIComponent(key)}`);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    const listener = (e: MessageEvent) => {
      let data: unknown;
      try {
        data = JSON.parse(e.data as string);
      } catch {
        return;
      }
      handler.current(e.type, data);
    };
    for (const t of key.split(',')) source.addEventListener(t, listener);
    return () => source.close();
  }, [key]);
  return connected;
}

/** The current time, ticking every `ms` (for countdowns and "2 minutes ago"). */
export function useNow(ms = 1_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
