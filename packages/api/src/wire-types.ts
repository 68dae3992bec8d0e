import type { z } from 'zod';

/**
 * A value as it travels: deeply read-only, so a server may answer with its own read-only records and a
 * client cannot mistake a response for something to edit in place.
 */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** The body a response schema describes, as it travels (see DeepReadonly). */
export type ResponseOf<S extends z.ZodType> = DeepReadonly<z.output<S>>;

/** The body a request schema accepts, as a client writes it (defaults may be left out). */
export type RequestOf<S extends z.ZodType> = z.input<S>;
