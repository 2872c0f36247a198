// The OAuth side of the app: sign-in with the authorization code flow and
// PKCE (RFC 7636), tokens bound with DPoP (RFC 9449), a refresh token that
// rotates on every use, and sign-out (RFC 7009 revocation, then OIDC
// RP-Initiated Logout).
//
// Where the tokens live:
//   - the access token only in memory (a module variable): a reload drops
//     it and the next API call refreshes;
//   - the refresh token in sessionStorage, written before the new access
//     token is used. It survives a reload of this tab and is gone when the
//     tab closes; other tabs do not see it, so two tabs never race one
//     refresh token. A script injected into this page could read it, but
//     could not use it anywhere else: it is bound to the DPoP key, which no
//     script can export, and presenting an older copy after it rotated is
//     a replay that makes Rotor revoke the whole session. (Memory only
//     would survive nothing, not even a reload; localStorage would be
//     shared by every tab and outlive the browser session.)
// A tab duplicated by the browser copies sessionStorage; the copy that
// refreshes second, outside Rotor's grace period, is taken for a replay
// and both copies are signed out: the safe way to fail.

import { dpopFetch, forgetKey, randomString, sha256 } from './dpop.js';

const RT = 'rotor-spa.refresh_token';
const ID_TOKEN = 'rotor-spa.id_token';
const PENDING = 'rotor-spa.pending';
const USER = 'rotor-spa.user';
const LOGOUT = 'rotor-spa.logout_state';

/** SignedOut means the session is over: the user must sign in again. */
export class SignedOut extends Error {}

/** OAuthError is an error answer of the authorization server. */
export class OAuthError extends Error {
  constructor(code, description) {
    super(description ? `${code}: ${description}` : code);
    this.code = code;
  }
}

let cfg = null; // /config.json
let md = null; // the issuer's metadata
let access = null; // { token, expiresAt }
let refreshing = null; // the refresh in flight, shared by every caller

/** init reads the app's settings and the issuer's metadata. */
export async function init() {
  cfg = await (await fetch('/config.json', { cache: 'no-store' })).json();
  const resp = await fetch(cfg.issuer + '/.well-known/openid-configuration', { credentials: 'omit' }).catch(() => {
    throw new Error(`cannot reach the issuer ${cfg.issuer} (is rotor serve running, and this origin allowed for ${cfg.client_id}?)`);
  });
  if (!resp.ok) throw new Error(`the issuer's metadata: HTTP ${resp.status}`);
  md = await resp.json();
  // OIDC Discovery §4.3: the metadata must be the issuer's own.
  if (md.issuer !== cfg.issuer) throw new Error('the metadata names another issuer');
  return cfg;
}

function redirectURI() {
  return location.origin + '/callback';
}

/** signIn sends the browser to Rotor's authorization endpoint. */
export async function signIn() {
  const pending = { state: randomString(32), nonce: randomString(32), verifier: randomString(32) };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: redirectURI(),
    scope: cfg.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await sha256(pending.verifier),
    code_challenge_method: 'S256',
  });
  if (cfg.resource) q.set('resource', cfg.resource);
  location.assign(md.authorization_endpoint + '?' + q);
}

/**
 * handleCallback finishes a sign-in when the page is the redirect URI:
 * the answer must belong to the sign-in this tab started (state) and come
 * from this issuer (RFC 9207), and the code is redeemed with the PKCE
 * verifier and a DPoP proof. It returns false on any other page.
 */
export async function handleCallback() {
  if (location.pathname !== '/callback') return false;
  const q = new URLSearchParams(location.search);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', '/');
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  if (!pending || q.get('state') !== pending.state) {
    throw new Error('this sign-in answer does not belong to a sign-in started in this tab');
  }
  const iss = q.get('iss');
  if ((iss !== null || md.authorization_response_iss_parameter_supported) && iss !== md.issuer) {
    throw new Error('this sign-in answer comes from another issuer');
  }
  if (q.get('error')) throw new OAuthError(q.get('error'), q.get('error_description'));
  const params = {
    grant_type: 'authorization_code',
    code: q.get('code') || '',
    redirect_uri: redirectURI(),
    client_id: cfg.client_id,
    code_verifier: pending.verifier,
  };
  if (cfg.resource) params.resource = cfg.resource;
  const tok = await tokenRequest(params);
  const claims = checkIDToken(tok.id_token, pending.nonce);
  sessionStorage.setItem(ID_TOKEN, tok.id_token);
  keep(tok);
  const who = { sub: claims.sub, preferred_username: claims.preferred_username, email: claims.email };
  if (!who.preferred_username && !who.email) Object.assign(who, await userinfo(claims.sub));
  sessionStorage.setItem(USER, JSON.stringify(who));
  return who;
}

// userinfo reads the user's claims from the userinfo endpoint, which
// takes the DPoP-bound access token with a proof. The answer must be about
// the id_token's subject (OIDC Core §5.3.2).
async function userinfo(sub) {
  if (!md.userinfo_endpoint) return {};
  const resp = await dpopFetch(md.userinfo_endpoint, { method: 'GET' }, access.token);
  const info = resp.ok ? await resp.json().catch(() => ({})) : {};
  if (info.sub !== sub) return {};
  return { preferred_username: info.preferred_username, email: info.email };
}

/**
 * checkIDToken checks the claims of an id_token that came straight from
 * the token endpoint over the connection the browser checked: iss, aud,
 * azp, exp and the nonce of this sign-in (OIDC Core §3.1.3.7; item 6 lets
 * a client skip the signature for a token it received this way).
 */
function checkIDToken(raw, nonce) {
  const claims = decodeJWT(raw);
  const aud = [].concat(claims.aud);
  const now = Date.now() / 1000;
  if (claims.iss !== md.issuer || !aud.includes(cfg.client_id) || (claims.azp && claims.azp !== cfg.client_id) ||
      !(claims.exp > now - 30) || (nonce !== undefined && claims.nonce !== nonce)) {
    throw new Error('the id_token is not for this sign-in');
  }
  return claims;
}

function decodeJWT(raw) {
  const part = (raw || '').split('.')[1];
  if (!part) throw new Error('no id_token in the answer');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
}

/** user returns the signed-in user ({sub, preferred_username, email}), or null. */
export function user() {
  if (!sessionStorage.getItem(RT)) return null;
  try {
    return JSON.parse(sessionStorage.getItem(USER));
  } catch {
    return null;
  }
}

// tokenRequest posts to the token endpoint with a DPoP proof and returns
// the token answer, which must be DPoP-bound.
async function tokenRequest(params) {
  const resp = await dpopFetch(md.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new OAuthError(body.error || `HTTP ${resp.status}`, body.error_description);
  if (!body.access_token || String(body.token_type).toLowerCase() !== 'dpop') {
    throw new Error('the token endpoint did not bind the tokens to this browser\'s key');
  }
  return body;
}

// keep stores a token answer: the rotated refresh token first, so that a
// crash after this point cannot leave the page with a spent one.
function keep(tok) {
  if (tok.refresh_token) sessionStorage.setItem(RT, tok.refresh_token);
  access = { token: tok.access_token, expiresAt: Date.now() + (tok.expires_in || 60) * 1000 };
}

// clear forgets every token of this tab.
function clear() {
  access = null;
  sessionStorage.removeItem(RT);
  sessionStorage.removeItem(ID_TOKEN);
  sessionStorage.removeItem(USER);
}

/**
 * refresh swaps the refresh token for a new one and a new access token.
 * Callers that arrive while one is in flight share it: a refresh token is
 * presented once. invalid_grant (revoked, expired, or replayed by someone
 * else) ends the session here too, with SignedOut.
 */
export function refresh() {
  refreshing ??= (async () => {
    const rt = sessionStorage.getItem(RT);
    if (!rt) throw new SignedOut('no refresh token');
    try {
      keep(await tokenRequest({ grant_type: 'refresh_token', refresh_token: rt, client_id: cfg.client_id }));
    } catch (e) {
      if (e instanceof OAuthError && e.code === 'invalid_grant') {
        clear();
        throw new SignedOut(e.message);
      }
      throw e;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// refreshMargin: an access token this close to expiry is refreshed
// before use, so that it does not expire on its way to the API.
const refreshMargin = 30 * 1000;

/**
 * callAPI calls GET /orders of the API with the access token and a DPoP
 * proof, refreshing first when the token is missing or about to expire,
 * and once more when the API refuses it (401).
 */
export async function callAPI() {
  if (!access || access.expiresAt - Date.now() < refreshMargin) await refresh();
  const url = cfg.api + '/orders';
  let resp = await dpopFetch(url, { method: 'GET' }, access.token);
  if (resp.status === 401) {
    await refresh();
    resp = await dpopFetch(url, { method: 'GET' }, access.token);
  }
  return { status: resp.status, text: await resp.text() };
}

/**
 * signOut revokes the refresh token (and with it the session's family at
 * Rotor), forgets the tokens and the DPoP key, and sends the browser to
 * Rotor's end_session_endpoint to end the session there too.
 */
export async function signOut() {
  const rt = sessionStorage.getItem(RT);
  const idt = sessionStorage.getItem(ID_TOKEN);
  clear();
  if (rt && md.revocation_endpoint) {
    const body = new URLSearchParams({ token: rt, token_type_hint: 'refresh_token', client_id: cfg.client_id });
    await fetch(md.revocation_endpoint, { method: 'POST', body, credentials: 'omit' }).catch(() => {});
  }
  await forgetKey();
  if (md.end_session_endpoint && idt) {
    const state = randomString(16);
    sessionStorage.setItem(LOGOUT, state);
    const q = new URLSearchParams({
      id_token_hint: idt, client_id: cfg.client_id, post_logout_redirect_uri: location.origin + '/', state,
    });
    location.assign(md.end_session_endpoint + '?' + q);
    return true;
  }
  return false;
}

/**
 * backFromSignOut reports whether the page is Rotor's redirect after the
 * sign-out this tab started (the state it sent comes back).
 */
export function backFromSignOut() {
  const state = new URLSearchParams(location.search).get('state');
  const sent = sessionStorage.getItem(LOGOUT);
  sessionStorage.removeItem(LOGOUT);
  if (state !== null) history.replaceState(null, '', '/');
  return sent !== null && state === sent;
}
