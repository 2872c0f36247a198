// The page: four buttons and what they show. The OAuth work is in
// oauth.js, the DPoP key and proofs in dpop.js.

import { backFromSignOut, callAPI, handleCallback, init, refresh, signIn, signOut, SignedOut, user } from './oauth.js';

const $ = (id) => document.getElementById(id);

function status(text) {
  $('status').textContent = text;
}

function show(signedIn) {
  $('signin').hidden = signedIn;
  for (const id of ['call', 'refresh', 'signout']) $(id).hidden = !signedIn;
  if (!signedIn) $('api-result').textContent = '';
}

function nameOf(claims) {
  return claims.preferred_username || claims.email || claims.sub;
}

// signedOut shows the end of a session that Rotor ended.
function signedOut() {
  show(false);
  status('Signed out — sign in again.');
}

// guard runs an action of a button, and shows what went wrong if it fails.
async function guard(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (e) {
    if (e instanceof SignedOut) signedOut();
    else status('Something went wrong: ' + e.message);
  } finally {
    button.disabled = false;
  }
}

let rotations = 0;

async function main() {
  await init();
  $('signin').addEventListener('click', () => guard($('signin'), signIn));
  $('call').addEventListener('click', () =>
    guard($('call'), async () => {
      $('api-result').textContent = '…';
      const r = await callAPI();
      $('api-result').textContent = `${r.status}\n${r.text}`;
    }));
  $('refresh').addEventListener('click', () =>
    guard($('refresh'), async () => {
      await refresh();
      rotations++;
      status(`Signed in as ${nameOf(user())}. Refreshed: the refresh token rotated (${rotations}).`);
    }));
  $('signout').addEventListener('click', () =>
    guard($('signout'), async () => {
      if (!(await signOut())) {
        show(false);
        status('Signed out.');
      }
    }));

  let claims = null;
  try {
    claims = await handleCallback();
  } catch (e) {
    show(false);
    status('Sign-in did not complete: ' + e.message);
    return;
  }
  claims = claims || user();
  if (claims) {
    show(true);
    status(`Signed in as ${nameOf(claims)}.`);
  } else {
    show(false);
    status(backFromSignOut() ? 'Signed out.' : 'Not signed in.');
  }
}

main().catch((e) => status('The app could not start: ' + e.message));
