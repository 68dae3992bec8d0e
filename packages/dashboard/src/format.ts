/** "3 min ago", "in 12 s": a time relative to now, for people scanning a list. */
export function relative(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  const future = ms > 0;
  const s = Math.round(Math.abs(ms) / 1000);
  const text =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.floor(s / 60)} min`
        : s < 86400
          ? `${Math.floor(s / 3600)} h`
          : `${Math.floor(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Time left until a deadline as m:ss (or h:mm:ss), "expired" once past. */
export function timeLeft(iso: string, now = Date.now()): string {
  const s = Math.floor((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'expired';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A local date and time, to the second. */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

/** A number in a budget's metric: dollars with cents, counts with separators. */
export function amount(value: number, metric: string): string {
  if (metric === 'usd' || metric === 'costUsd') return `$${value.toFixed(2)}`;
  return Math.round(value).toLocaleString('en-US');
}

/** Pretty JSON for arguments and event bodies. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'undefined';
}

/** A call's duration for people: 420 µs, 3.2 ms, 85 ms, 1.4 s. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Who acted, with what kind of principal: `tom (human)`, `warden (system)`. The kind is always shown,
 * because an id alone does not say it: a key made before names were reserved may be called `warden`,
 * and an agent and a person may share a name.
 */
export function actorLabel(actor: { readonly kind: string; readonly id: string }): {
  readonly id: string;
  readonly kind: string;
} {
  return { id: actor.id, kind: `(${actor.kind})` };
}
