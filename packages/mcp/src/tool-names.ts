/**
 * Tools are namespaced per upstream. Clients see `<server>__<tool>`: model APIs accept only letters,
 * digits, `_` and `-` in tool names, so no dot. Policies see `<server>.<tool>`, the dotted style of every
 * other tool name (`github.pulls.create`), so `fs.*` covers one upstream. Server names carry no `_` or
 * `.`, which makes both forms split back unambiguously.
 */
export const SEPARATOR = '__';

/** The name a client sees. */
export function exposedName(server: string, tool: string): string {
  return `${server}${SEPARATOR}${tool}`;
}

/** The name the policy sees. */
export function policyName(server: string, tool: string): string {
  return `${server}.${tool}`;
}

/** Splits a client's tool name into its upstream and the upstream's own tool name. */
export function splitExposed(name: string): { server: string; tool: string } | undefined {
  const at = name.indexOf(SEPARATOR);
  if (at <= 0 || at + SEPARATOR.length >= name.length) return undefined;
  return { server: name.slice(0, at), tool: name.slice(at + SEPARATOR.length) };
}
