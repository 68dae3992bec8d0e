import { randomBytes } from 'node:crypto';
import { ApprovalViewSchema, LinkTokenParamsSchema } from '@warden/api';
import { WardenError } from '@warden/core';
import { personAliases } from '../auth/person-aliases.js';
import { defineRoute, STREAMED } from '../http/route-spec.js';
import { verifyApprovalLinkToken } from '../notify/approval-links.js';
import { linkKey } from '../notify/notification-dispatcher.js';
import { VOTE_ERRORS, VoteBody, viewFor, votable, voterOf } from './approval-routes.js';

const TokenParams = LinkTokenParamsSchema;

/**
 * Signed one-time links from notifications. A link names a request and an action, but never decides by
 * itself: the page asks for the approver's key, and the vote is cast as that key's principal, with
 * separation of duties and eligibility checked as on every other channel.
 */
export const approvalLinkRoutes = [
  defineRoute({
    method: 'GET',
    url: '/approve/:token',
    tag: 'approvals',
    summary: 'The page a notification link opens: sign in with your key, see the request, decide.',
    roles: 'public',
    params: TokenParams,
    response: { status: 200, stream: 'text/html' },
    errors: ['LINK_INVALID'],
    async handler({ params, ctx, reply }) {
      const link = verifyApprovalLinkToken(linkKey(ctx.engine), params.token);
      const nonce = randomBytes(16).toString('base64');
      reply
        .code(200)
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('x-frame-options', 'DENY')
        .header(
          'content-security-policy',
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'`,
        )
        .send(linkPage(link.approvalId, link.action, params.token, nonce));
      return STREAMED;
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/approvals/links/:token',
    tag: 'approvals',
    summary: 'Decide through a notification link, authenticated with your own key. Each link works once.',
    roles: ['approver', 'admin', 'agent'],
    params: TokenParams,
    body: VoteBody,
    response: { status: 200, schema: ApprovalViewSchema },
    errors: ['LINK_INVALID', ...VOTE_ERRORS],
    async handler({ params, body, principal, ctx }) {
      const link = verifyApprovalLinkToken(linkKey(ctx.engine), params.token);
      if (link.action === 'view') {
        const a = await ctx.engine.approvals.get(link.approvalId);
        if (principal.role === 'agent' && a.agent !== principal.id) {
          throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${link.approvalId}`);
        }
        return viewFor(a, principal);
      }
      await votable(ctx, link.approvalId, principal);
      const a = await ctx.engine.approvals.vote(link.approvalId, voterOf(principal), link.action, {
        ...(body.reason ? { reason: body.reason } : {}),
        via: `link:${link.nonce}`,
        once: true,
        ...(await personAliases(ctx.engine.store, principal)),
      });
      return viewFor(a, principal);
    },
  }),
];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small self-contained page: nothing about the request is shown until the key is checked. */
function linkPage(approvalId: string, action: string, token: string, nonce: string): string {
  const verb = action === 'approve' ? 'Approve' : action === 'deny' ? 'Deny' : 'View';
  const data = JSON.stringify({ approvalId, action, token }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${verb} approval ${escapeHtml(approvalId)} · Warden</title>
<style nonce="${nonce}">
body{font:15px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.3rem} label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input,textarea{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #aab;border-radius:6px}
button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit;border:0;border-radius:6px;color:#fff;background:${action === 'deny' ? '#b42318' : '#1a7f37'};cursor:pointer}
pre{background:#f3f4f6;padding:.8rem;border-radius:6px;overflow:auto} .err{color:#b42318} .ok{color:#1a7f37}
dt{font-weight:600} dd{margin:0 0 .4rem}
</style></head><body>
<h1>${verb} approval request <code>${escapeHtml(approvalId)}</code></h1>
<p>This link does not decide anything by itself: sign in with your own Warden key. The request is shown only after your key is checked; nobody with a stake in it may decide it.</p>
<form id="f"><label for="key">Your API key</label><input id="key" type="password" autocomplete="off" required placeholder="wdn_…">
<div id="details"></div>
${action === 'view' ? '' : '<label for="reason">Reason</label><textarea id="reason" rows="3"></textarea>'}
<button type="submit">${action === 'view' ? 'Show' : verb}</button></form>
<p id="msg" role="status"></p>
<script nonce="${nonce}">
const ctx = ${data};
const msg = document.getElementById('msg');
const show = (t, cls) => { msg.textContent = t; msg.className = cls; };
document.getElementById('f').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = document.getElementById('key').value.trim();
  const headers = { authorization: 'Bearer ' + key, 'content-type': 'application/json' };
  const reasonEl = document.getElementById('reason');
  const body = JSON.stringify(reasonEl && reasonEl.value.trim() ? { reason: reasonEl.value.trim() } : {});
  try {
    const res = await fetch('/v1/approvals/links/' + encodeURIComponent(ctx.token), { method: 'POST', headers, body });
    const out = await res.json();
    if (!res.ok) return show(out.error.message + ' (' + out.error.code + ')', 'err');
    const d = document.getElementById('details');
    d.innerHTML = '';
    const dl = document.createElement('dl');
    for (const [k, v] of [['Status', out.status], ['Agent', out.agent], ['Tool', out.tool], ['Triggered by', out.triggeredBy || '—'], ['Rule', out.ruleId || 'default'], ['Why', out.reasons.join('; ')], ['Expires', out.expiresAt]]) {
      const dt = document.createElement('dt'); dt.textContent = k; const dd = document.createElement('dd'); dd.textContent = v; dl.append(dt, dd);
    }
    const pre = document.createElement('pre'); pre.textContent = JSON.stringify(out.args, null, 2);
    d.append(dl, pre);
    show(ctx.action === 'view' ? 'Request ' + out.status + '.' : 'Recorded: the request is now ' + out.status + '.', 'ok');
  } catch (e) { show('Could not reach Warden: ' + e.message, 'err'); }
});
</script></body></html>`;
}
