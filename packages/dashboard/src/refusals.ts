import type { ApiError } from './api/api-client.js';

/** Why the server refused a person's action, in plain words, with the server's own detail after it. */
const PLAIN: Record<string, string> = {
  APPROVAL_SELF_APPROVAL:
    'Separation of duties: whoever asked for this (the agent, an agent that delegated to it, or the person who started the task) can never approve it. Someone else has to decide.',
  APPROVAL_NOT_ELIGIBLE:
    "This rule names who may approve, and you are not among them (your role or group doesn't match).",
  APPROVAL_ALREADY_VOTED:
    'You have already voted on this request; it needs a different person for the next vote.',
  APPROVAL_REASON_REQUIRED: 'This rule requires a reason with every decision. Write one and try again.',
  APPROVAL_DECIDED: 'This request was already decided by someone else.',
  APPROVAL_NOT_FOUND: 'This request no longer exists.',
  SESSION_STATE: 'The session is not in a state that allows this any more.',
  CSRF_REJECTED: 'Your sign-in token is stale. Reload the page and try again.',
  FORBIDDEN: 'Your role may not do this.',
  UNAUTHENTICATED: 'Your sign-in has ended. Sign in again.',
};

/** The sentence to show for a refused action. */
export function refusalText(err: ApiError): string {
  const plain = PLAIN[err.code];
  return plain ? `${plain} (${err.message})` : err.message;
}
