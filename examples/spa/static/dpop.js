// DPoP (RFC 9449): every token request and API call carries a proof signed
// with a key of this browser. The key is made non-extractable: scripts of
// this page can ask the browser to sign with it, but nothing, not even
// this page, can read the private key out. Tokens bound to it are useless
// anywhere else. It lives in IndexedDB (which stores CryptoKey objects as
// they are), so it survives a reload.

const DB_NAME = 'rotor-spa';
const STORE = 'keys';
const KEY_NAME = 'dpop';

/** b64url encodes bytes (an ArrayBuffer or a Uint8Array) without padding. */
export function b64url(bytes) {
  const b = new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function utf8(s) {
  return new TextEncoder().encode(s);
}

/** randomString returns n random bytes, base64url. */
export function randomString(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

/** sha256 returns the base64url SHA-256 of a string. */
export async function sha256(s) {
  return b64url(await crypto.subtle.digest('SHA-256', utf8(s)));
}

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDB();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

let current = null; // {pair, jwk}

/** key returns this browser's DPoP key pair, made on first use. */
export async function key() {
  if (current) return current;
  let pair = await withStore('readonly', (s) => s.get(KEY_NAME));
  if (!pair) {
    // extractable=false: the private key can sign, never be exported.
    pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    await withStore('readwrite', (s) => s.put(pair, KEY_NAME));
  }
  // A public key is always exportable; only its public members go in
  // the proof's header.
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  current = { pair, jwk: { kty, crv, x, y } };
  return current;
}

/** forgetKey deletes the key: the next sign-in binds to a new one. */
export async function forgetKey() {
  current = null;
  await withStore('readwrite', (s) => s.delete(KEY_NAME));
}

// The last nonce each server gave (RFC 9449 §8 and §9), by origin.
const nonces = new Map();

/**
 * proof returns a DPoP proof JWT for a request (RFC 9449 §4.2): htm and
 * htu name the request (htu without query or fragment), ath the access
 * token it carries, if any.
 */
export async function proof(method, url, accessToken) {
  const { pair, jwk } = await key();
  const u = new URL(url);
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk };
  const claims = {
    jti: randomString(16),
    htm: method,
    htu: u.origin + u.pathname,
    iat: Math.floor(Date.now() / 1000),
  };
  if (accessToken) claims.ath = await sha256(accessToken);
  const nonce = nonces.get(u.origin);
  if (nonce) claims.nonce = nonce;
  const input = b64url(utf8(JSON.stringify(header))) + '.' + b64url(utf8(JSON.stringify(claims)));
  // WebCrypto's ECDSA signature is r||s, the form JWS ES256 uses.
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, utf8(input));
  return input + '.' + b64url(sig);
}

/** thumbprint returns the key's JWK thumbprint (RFC 7638), as cnf.jkt. */
export async function thumbprint() {
  const { jwk } = await key();
  return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

// asksForNonce reports whether a refused answer asks for a (new) nonce:
// a token endpoint's 400 use_dpop_nonce, or a resource server's 401 with
// that error in its DPoP challenge.
async function asksForNonce(resp) {
  if (resp.status === 401) {
    return /use_dpop_nonce/.test(resp.headers.get('WWW-Authenticate') || '');
  }
  if (resp.status === 400) {
    const body = await resp.clone().json().catch(() => ({}));
    return body.error === 'use_dpop_nonce';
  }
  return false;
}

/**
 * dpopFetch sends a request with a DPoP proof (and the access token, if
 * given, as "Authorization: DPoP"), remembers the server's DPoP-Nonce,
 * and sends it once more with a fresh proof when the server asks for one.
 */
export async function dpopFetch(url, init, accessToken) {
  const origin = new URL(url).origin;
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(init.headers || {});
    headers.set('DPoP', await proof(init.method || 'GET', url, accessToken));
    if (accessToken) headers.set('Authorization', 'DPoP ' + accessToken);
    const before = nonces.get(origin);
    const resp = await fetch(url, { ...init, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' });
    const nonce = resp.headers.get('DPoP-Nonce');
    if (nonce) nonces.set(origin, nonce);
    if (attempt === 0 && nonce && nonce !== before && (await asksForNonce(resp))) continue;
    return resp;
  }
}
