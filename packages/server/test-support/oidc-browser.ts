/**
 * A minimal browser for driving an OpenID provider's own pages with fetch: a cookie jar (cookies are
 * per host, not per port, as in a browser), redirects followed by hand, and forms filled and submitted
 * the way a person would (login, password, user code; consent and confirmation forms as they are).
 */
export class CookieJar {
  readonly #cookies = new Map<string, Map<string, string>>();

  /** The Cookie header for a URL, or undefined when there is none. */
  header(url: string): string | undefined {
    const jar = this.#cookies.get(new URL(url).hostname);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Takes the Set-Cookie headers of a response to a request for `url`. */
  take(url: string, response: Response): void {
    const host = new URL(url).hostname;
    const jar = this.#cookies.get(host) ?? new Map<string, string>();
    this.#cookies.set(host, jar);
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || value === '';
      if (gone) jar.delete(name);
      else jar.set(name, value);
    }
  }

  /** One cookie's value for a host. */
  get(url: string, name: string): string | undefined {
    return this.#cookies.get(new URL(url).hostname)?.get(name);
  }
}

/** What a person types into the provider's pages. */
export interface Person {
  readonly login: string;
  readonly password?: string;
  readonly userCode?: string;
}

/** One step of a browse: the URL asked for and the answer. */
export interface Visited {
  readonly url: string;
  readonly status: number;
  readonly location?: string;
  readonly body?: string;
}

/**
 * Opens `start` and follows redirects and forms until a page with no form, or a redirect `stop` accepts
 * (its location is returned unfollowed). Throws naming the step when it runs for more than 25 steps.
 */
export async function browse(
  start: string,
  person: Person,
  options: { jar?: CookieJar; stop?: (location: string) => boolean } = {},
): Promise<{ final: Visited; steps: Visited[]; jar: CookieJar }> {
  const jar = options.jar ?? new CookieJar();
  const steps: Visited[] = [];
  let next: { url: string; method: 'GET' | 'POST'; form?: URLSearchParams } = { url: start, method: 'GET' };
  for (let i = 0; i < 25; i++) {
    const cookie = jar.header(next.url);
    const response = await fetch(next.url, {
      method: next.method,
      redirect: 'manual',
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(next.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        accept: 'text/html',
      },
      ...(next.form ? { body: next.form.toString() } : {}),
    });
    jar.take(next.url, response);
    const location = response.headers.get('location') ?? undefined;
    if (location !== undefined && response.status >= 300 && response.status < 400) {
      const to = new URL(location, next.url).toString();
      const step = { url: next.url, status: response.status, location: to };
      steps.push(step);
      if (options.stop?.(to)) return { final: step, steps, jar };
      next = { url: to, method: 'GET' };
      continue;
    }
    const body = await response.text();
    const step = { url: next.url, status: response.status, body };
    steps.push(step);
    const form = firstForm(body);
    if (!form || response.status >= 400) return { final: step, steps, jar };
    for (const [name, value] of form.fields) {
      if (name === 'login' && !value) form.fields.set(name, person.login);
      if (name === 'password' && !value) form.fields.set(name, person.password ?? 'any password');
      if (name === 'user_code' && !value && person.userCode) form.fields.set(name, person.userCode);
    }
    next = {
      url: new URL(form.action || next.url, next.url).toString(),
      method: form.method === 'get' ? 'GET' : 'POST',
      form: new URLSearchParams([...form.fields]),
    };
  }
  throw new Error(`browsing from ${start} did not finish in 25 steps; last: ${JSON.stringify(steps.at(-1))}`);
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i').exec(tag);
  const raw = m?.[1] ?? m?.[2];
  return raw === undefined ? undefined : raw.replaceAll('&amp;', '&').replaceAll('&#x2F;', '/');
}

/** The first form of a page: its action, method and named inputs (a submit button's name is left out). */
function firstForm(
  html: string,
): { action: string; method: string; fields: Map<string, string> } | undefined {
  const open = /<form\b[^>]*>/i.exec(html);
  if (!open) return undefined;
  const end = html.indexOf('</form>', open.index);
  const inner = html.slice(open.index, end < 0 ? undefined : end);
  const fields = new Map<string, string>();
  for (const m of inner.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(m[0], 'name');
    if (name) fields.set(name, attr(m[0], 'value') ?? '');
  }
  return {
    action: attr(open[0], 'action') ?? '',
    method: (attr(open[0], 'method') ?? 'get').toLowerCase(),
    fields,
  };
}
