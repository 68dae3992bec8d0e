/**
 * Bounded collections for reports over long periods: a report keeps exact counts of everything but only
 * the first rows of each list, and says how many more there were.
 */

/** The first rows of a list and how many there were in all (`total - items.length` more). */
export interface Capped<T> {
  readonly items: readonly T[];
  readonly total: number;
}

/** Keeps the first `cap` items pushed and counts every one. */
export class CappedList<T> {
  readonly #cap: number;
  readonly #items: T[] = [];
  #total = 0;

  constructor(cap: number) {
    this.#cap = cap;
  }

  push(item: T): void {
    this.#total += 1;
    if (this.#items.length < this.#cap) this.#items.push(item);
  }

  get total(): number {
    return this.#total;
  }

  /** The kept rows and the count, as a plain value. */
  done(): Capped<T> {
    return { items: [...this.#items], total: this.#total };
  }
}

/** One name and how often it was seen. */
export interface TallyRow {
  readonly key: string;
  readonly count: number;
}

/** The most frequent names, and how many more names and occurrences there were beyond them. */
export interface TopList {
  readonly rows: readonly TallyRow[];
  /** Distinct names not shown. */
  readonly otherKeys: number;
  /** Occurrences of the names not shown. */
  readonly otherCount: number;
}

/** The name occurrences are folded into once `maxKeys` distinct names are tracked. */
export const OTHER_KEY = '(other)';

/**
 * Counts occurrences per name. At most `maxKeys` distinct names are tracked (names can be chosen by
 * whoever calls Warden); later new names are counted under `(other)`, so memory stays bounded.
 */
export class Tally {
  readonly #maxKeys: number;
  readonly #counts = new Map<string, number>();

  constructor(maxKeys = 10_000) {
    this.#maxKeys = maxKeys;
  }

  add(key: string, by = 1): void {
    const k = this.#counts.has(key) || this.#counts.size < this.#maxKeys ? key : OTHER_KEY;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + by);
  }

  /** The `n` most frequent names (ties by name), and what the rest add up to. */
  top(n: number): TopList {
    const all = [...this.#counts].map(([key, count]) => ({ key, count }));
    all.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const rest = all.slice(n);
    return {
      rows: all.slice(0, n),
      otherKeys: rest.length,
      otherCount: rest.reduce((s, r) => s + r.count, 0),
    };
  }
}
