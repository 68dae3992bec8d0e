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
 * calls `onEvent` for each, and once with type `open` each time the stream (re)connects; the browser
 * reconnects by itself. Returns whether the stream is connected.
 */
export function useLiveEvents(
  types: readonly string[],
  onEvent: (type: string, data: unknown) => void,
  filter: { readonly session?: string } = {},
): boolean {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = types.join(',');
  const session = filter.session;
  useEffect(() => {
    const source = new EventSource(
      `/v1/events?type=${encodeURIComponent(key)}${session ? `&session=${encodeURIComponent(session)}` : ''}`,
    );
    // Whatever happened before the stream was open (the page's first load raced it, or the connection
    // dropped and the browser reconnected) is caught up by one reload: `onEvent` hears type `open`.
    source.onopen = () => {
      setConnected(true);
      handler.current('open', undefined);
    };
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
  }, [key, session]);
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

/**
 * Reloads at most once per `ms` however many events arrive (a busy agent completes many calls). The
 * latest `reload` is the one that runs, so a page whose filter changed meanwhile never shows old data.
 */
export function useThrottledReload(reload: () => void, ms = 1_000): () => void {
  const latest = useRef(reload);
  latest.current = reload;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}
