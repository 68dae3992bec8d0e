/**
 * Every stable error code Warden can raise, with what it means. Codes are public API: never rename one,
 * only add. The HTTP status mapping lives with the server; this table is the one place codes are defined
 * (in the API contract, so clients know every code a response can carry).
 */
export const ERROR_CODES = {
  POLICY_INVALID:
    'The policy could not be compiled; details.diagnostics lists each problem with its location.',
  POLICY_NOT_FOUND: 'A policy file or folder does not exist or holds no YAML files.',
  POLICY_CONFLICT:
    'Another policy was stored while this change was being recorded (another instance, an API call); nothing was written.',
  CALL_INVALID: 'A tool call is malformed (missing agent or tool, wrong types).',
  USAGE: 'A command was invoked with missing or malformed options.',
  STORE_UNAVAILABLE:
    'The database cannot be reached or written (down, read-only, locked, full); calls are blocked until it returns.',
  STORE_INVALID: 'The database location is malformed, or the database belongs to a newer Warden.',
  CHAIN_BROKEN: 'The audit chain failed verification; details.problem names the first bad sequence number.',
  KEYS_INVALID: 'A key file is missing, unreadable or malformed.',
  CALL_NOT_FOUND: 'No decided call has this id.',
  CALL_NOT_RUNNABLE: 'The call was not allowed, so it cannot be completed.',
  CALL_ALREADY_COMPLETED: 'The call was already completed; a result is recorded once.',
  CALL_VOIDED:
    'The call was voided: its decision was recorded but the caller was answered STORE_UNAVAILABLE, so it may not run or be completed.',
  SESSION_PAUSED: 'The session is paused until a human resumes it.',
  SESSION_CLOSED: 'The session is closed; start a new one.',
  SESSION_FOREIGN:
    "The session belongs to another agent; an agent may join another's session only as its delegate, with a task token for that session (a claimed delegationChain is not enough).",
  SESSION_NOT_FOUND: 'No session has this id.',
  SESSION_STATE: 'The session is not in a state that allows this change.',
  APPROVAL_SELF_APPROVAL:
    'Separation of duties: the requester, the human who triggered the task and every agent up its delegation chain can never approve or resume it.',
  APPROVAL_NOT_FOUND: 'No approval request has this id (an agent sees only its own).',
  APPROVAL_NOT_ELIGIBLE:
    'The voter is not among the approvers the rule requires (role, named principal, approver group or named agent); details.requires says who is.',
  APPROVAL_DECIDED:
    'The approval request is no longer pending (approved, denied, expired, cancelled or used).',
  APPROVAL_ALREADY_VOTED: 'This principal has already voted on the request; each person votes once.',
  APPROVAL_REASON_REQUIRED: 'The rule requires a reason with every vote; send one.',
  APPROVAL_CONFLICT:
    'The approval request changed while this decision was being recorded; the decision was not recorded (retry).',
  APPROVAL_MISMATCH:
    'The call presented with an approval differs from the approved one (agent, session, tool or arguments); the approval is void.',
  GRANT_NOT_FOUND: 'No grant has this id.',
  GRANT_INVALID: 'A grant is malformed: unknown agent pattern, bad tool glob, bad condition or a bad expiry.',
  LINK_INVALID:
    'An approval link is malformed, altered or expired; open the approval from the dashboard or ask for a new link.',
  SLACK_SIGNATURE_INVALID:
    "A request to /slack/interactions is not from Slack: the X-Slack-Signature or X-Slack-Request-Timestamp header is missing, stale (over 5 minutes) or does not match the body signed with the app's signing secret.",
  SLACK_USER_UNMAPPED:
    'A Slack user who clicked Approve or Deny is not a Warden person: not in the slack.users map, and their Slack email is no SSO person and no human API key (or the person has no role).',
  SLACK_FOREIGN_USER:
    "A Slack click came from outside the app's workspace (slack.teamId / enterpriseId): another workspace or a Slack Connect organisation; it is refused, whatever the clicker's email.",
  SLACK_SIGN_IN_STALE:
    'A Slack click by an SSO person whose last sign-in is older than a dashboard session (8 h): their role may have changed at the identity provider; they sign in to Warden again first.',
  SLACK_EMAIL_AMBIGUOUS:
    'A Slack click by a user whose email more than one SSO person has: Warden cannot tell which person clicked; map the Slack user in slack.users.',
  BUDGET_EXCEEDED:
    'A budget would go over its limit; details name the budget, scope, used, reserved and limit. A hard breach pauses the session.',
  BUDGET_CONFLICT:
    'A budget reservation or alert changed while this change was being recorded (settled, released or announced elsewhere); nothing was written.',
  BUDGET_NOT_FOUND: 'No budget of the policy in force has this id for the session.',
  BUDGET_SHARED:
    "A budget shared beyond the session (agent, team, tag or global) cannot be raised on one session's resume, which would lift it for sessions the resumer may have a stake in; change its limit in the policy.",
  RUNAWAY_DETECTED:
    'A loop breaker tripped (same call repeated, two tools ping-ponging, call rate or token burn too high); the session is paused.',
  PRICE_UNKNOWN:
    'A USD budget applies but the model has no known price; add it to the `prices` setting of the server configuration.',
  ESTIMATE_UNBOUNDED:
    'A tokens or USD budget applies but what the request may consume cannot be bounded before it runs (a field naming stored context or a server-side tool); the message names the field and how to proceed.',
  LLM_NOT_CONFIGURED:
    'No upstream is configured for this LLM provider; set llm.<provider>.apiKey in the server configuration.',
  LLM_UPSTREAM_UNAVAILABLE:
    'The LLM provider could not be reached or its answer broke off; nothing (or only what was generated) was billed.',
  CALL_BLOCKED:
    'Warden blocked the call (a block rule, the default deny, or a changed approval); details name the rule, the reasons and the call id. Nothing ran.',
  APPROVAL_TIMEOUT:
    'The call waited for its approval longer than the caller allowed; the request was withdrawn and nothing ran.',
  APPROVAL_DENIED:
    'The approval request was denied, expired or cancelled; details.status and details.decidedBy say which and by whom. Nothing ran.',
  CALL_ABORTED:
    'The caller aborted the call (its AbortSignal) before it ran; a pending approval was withdrawn.',
  MCP_UPSTREAM_UNAVAILABLE:
    'An upstream MCP server of the gateway could not be started or reached, or it failed the call; the message names it.',
  MCP_TOOL_UNKNOWN: 'The MCP gateway has no tool of that name (or the policy hides it from this agent).',
  WARDEN_UNREACHABLE:
    'A client (SDK, MCP gateway) could not reach its Warden server (refused, unknown host, network down); the message names the URL. Nothing was decided, so nothing ran: start `warden serve` there or fix the URL the client is given.',
  LEGAL_HOLD_ACTIVE: 'A legal hold is in place, so nothing may be purged.',
  QUERY_INVALID: 'An audit query or export has a malformed filter, time or cursor.',
  EXPORT_INVALID: 'An export or checkpoint file is malformed; the message names the line.',
  REQUEST_INVALID:
    'An HTTP request is malformed: unparseable JSON, a wrong type, an unknown field or a bad parameter; details.problems names each field.',
  UNAUTHENTICATED:
    'No API key, or the key is unknown, revoked or expired. Send Authorization: Bearer <key>; `warden keys create` makes one.',
  FORBIDDEN: "The key's role may not do this; details.role and details.allowed say which roles may.",
  CSRF_REJECTED:
    "A request made with the dashboard's sign-in cookie changes something but lacks the session's x-warden-csrf header or comes from another origin; reload the dashboard.",
  ID_TOKEN_INVALID:
    'An OpenID Connect ID token (or a Warden sign-in token) was refused: wrong issuer or audience, expired, a bad signature, a nonce that does not match, or a missing claim; details.reason names which. Sign in again.',
  SSO_REQUIRED:
    'People sign in only through SSO here (auth.keySignIn is false): a human API key is refused. Sign in with `warden login` or the dashboard; agent and service keys are unchanged.',
  SSO_DENIED:
    'The identity provider refused or ended the sign-in (denied, expired, a stale state), or the person has no Warden role mapped from their IdP groups; the message says which.',
  IDP_UNAVAILABLE:
    'The OpenID Connect identity provider could not be reached or answered something unusable; the message names the issuer and what failed.',
  AGENT_MISMATCH: 'An agent key may act only as its own agent; the call names a different one.',
  NOT_FOUND: 'No such endpoint or resource.',
  BODY_TOO_LARGE: 'The request body is larger than the server accepts (bodyLimit).',
  UNSUPPORTED_MEDIA_TYPE: 'The request body is not JSON; send Content-Type: application/json.',
  RATE_LIMITED: 'Too many requests; retry after the number of seconds in the Retry-After header.',
  KEY_NOT_FOUND: 'No API key has this id.',
  KEY_REVOKED: 'The API key is already revoked.',
  KEYS_EXIST: 'An admin key was not bootstrapped because keys already exist.',
  EVENT_NOT_FOUND: 'No audit event has this sequence number (or it was purged by retention).',
  CONFIG_INVALID:
    'The server configuration (file, environment or flags) is malformed; the message names the setting.',
  SHUTTING_DOWN: 'The server is shutting down and accepts no new work; retry against another instance.',
  TASK_TOKEN_INVALID:
    'A task token (Warden-Task-Token, or a subject token of a token exchange) was refused: bad signature, another issuer or key, expired or not yet valid, presented by another agent, or a chain Warden did not issue; details.reason says which. Recorded as identity.refused.',
  TASK_TOKEN_MISMATCH:
    "A call's body disagrees with its task token (session, triggeredBy or delegationChain): the token's claims are the call's; leave them out of the body or send the token's. Recorded.",
  IDENTITY_REQUIRED:
    'Verified identity is required: the policy asks for a task token (identity.requireTaskToken) for a call naming an initiator or a delegation chain, or the call joins a session that only a token for it may join. Start a task (POST /v1/tasks) and send its token.',
  INTERNAL: 'An unexpected failure; the message says what was being done.',
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
