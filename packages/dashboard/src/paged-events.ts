import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, query } from './api/api-client.js';
import type { AuditPage, AuditRecord } from './api/api-types.js';

type Filters = Record<string, string | undefined>;

/** Audit events matching a filter, newest first: older pages on demand, newer ones merged in on refresh. */
export interface PagedEvents {
  readonly records: readonly AuditRecord[];
  readonly loading: boolean;
  readonly error: ApiError | undefined;
  readonly hasMore: boolean;
  /** Loads the next older page. */
  readonly more: () => void;
  /** Fetches what is new since the newest shown, keeping the older pages already loaded. */
  readonly refresh: () => void;
}

const PAGE = 100;

function fetchPage(filters: Filters, cursor?: string) {
  return api<AuditPage>(
    'GET',
    `/v1/audit/events${query({ ...filters, order: 'desc', limit: PAGE, cursor })}`,
  );
}

/** Pages through `/v1/audit/events` newest first; a new filter starts over. */
export function usePagedEvents(filters: Filters): PagedEvents {
  const key = JSON.stringify(filters);
  const [state, setState] = useState<{
    records: readonly AuditRecord[];
    next: string | null;
    loading: boolean;
    error?: ApiError;
  }>({ records: [], next: null, loading: true });
  const generation = useRef(0);
  const current = useRef(state);
  current.current = state;
  const fail = (err: unknown) =>
    setState((s) => ({
      ...s,
      loading: false,
      error: err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)),
    }));

  useEffect(() => {
    const mine = ++generation.current;
    setState({ records: [], next: null, loading: true });
    fetchPage(filters).then(
      (page) =>
        mine === generation.current &&
        setState({ records: page.records, next: page.nextCursor, loading: false }),
      (err) => mine === generation.current && fail(err),
    );
  }, [key]);

  const more = useCallback(() => {
    const { next } = current.current;
    if (!next) return;
    const mine = generation.current;
    fetchPage(filters, next).then(
      (page) =>
        mine === generation.current &&
        setState((s) => ({ ...s, records: [...s.records, ...page.records], next: page.nextCursor })),
      fail,
    );
  }, [key]);

  const refresh = useCallback(() => {
    const mine = generation.current;
    fetchPage(filters).then((page) => {
      if (mine !== generation.current) return;
      setState((s) => {
        const top = s.records[0]?.seq ?? 0;
        const newer = page.records.filter((r) => r.seq > top);
        // A whole page of newer events may hide a gap: start over from the newest page then.
        if (newer.length === page.records.length && s.records.length > 0 && page.nextCursor) {
          return { records: page.records, next: page.nextCursor, loading: false };
        }
        return { ...s, records: [...newer, ...s.records], loading: false };
      });
    }, fail);
  }, [key]);

  return {
    records: state.records,
    loading: state.loading,
    error: state.error,
    hasMore: state.next !== null,
    more,
    refresh,
  };
}
