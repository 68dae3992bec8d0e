import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api/api-client.js';

/** A failed request, in words: the server's message and its stable code. */
export function ErrorNotice(props: { readonly error: ApiError | undefined; readonly what?: string }) {
  if (!props.error) return null;
  return (
    <div class="notice error" role="alert">
      {props.what ? <strong>{props.what}: </strong> : null}
      {props.error.message} <code>{props.error.code}</code>
    </div>
  );
}

/** Shown where a list is empty, saying what would appear there. */
export function Empty(props: { readonly children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/** A labelled value in a definition grid. */
export function Field(props: { readonly label: string; readonly children: ComponentChildren }) {
  return (
    <div class="field">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}
