package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/rotor-auth/rotor/client"
)

// cookieName is the app's own session cookie. Cookies do not tell ports
// apart, so on 127.0.0.1 it shares the jar with Rotor's rotor_session and
// the other example's: the name keeps them apart.
const cookieName = "example_web_session"

// Session limits: a sign-in must finish within pendingTTL; a signed-in
// session ends after idleTTL without a request; at most maxSessions live
// at once, so that a flood of /login requests cannot fill the memory.
const (
	pendingTTL  = 10 * time.Minute
	idleTTL     = 8 * time.Hour
	maxSessions = 10_000
)

// session is one browser's state, held in this process only: the browser
// gets a random id, never a token (the Backend-for-Frontend pattern).
type session struct {
	csrf    string
	expires time.Time

	// A sign-in in progress: what the callback must match.
	state, nonce, verifier string

	// Signed in.
	name, subject, idToken string
	tokens                 *client.MemoryStore
	src                    *client.Source
	// result is the last API answer, shown once on the home page.
	result string
}

func (s *session) signedIn() bool { return s.src != nil }

// sessions maps the hash of a cookie's id to its session.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, now: now}
}

// random returns n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// key is the map key of a cookie value: a hash, so that a lookup's timing
// says nothing about the ids in the map.
func key(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// add stores s under a new id, which it returns; false when the store is
// full even after dropping expired sessions.
func (ss *sessions) add(s *session, ttl time.Duration) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if len(ss.m) >= maxSessions {
		for k, v := range ss.m {
			if !now.Before(v.expires) {
				delete(ss.m, k)
			}
		}
		if len(ss.m) >= maxSessions {
			return "", false
		}
	}
	id := random(32)
	s.expires = now.Add(ttl)
	if s.csrf == "" {
		s.csrf = random(32)
	}
	ss.m[key(id)] = s
	return id, true
}

// get returns the request's live session, sliding a signed-in one's
// expiry, or nil.
func (ss *sessions) get(r *http.Request) (*session, string) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) > 64 {
		return nil, ""
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[key(c.Value)]
	now := ss.now()
	switch {
	case !ok:
		return nil, ""
	case !now.Before(s.expires):
		delete(ss.m, key(c.Value))
		return nil, ""
	case s.signedIn():
		s.expires = now.Add(idleTTL)
	}
	return s, c.Value
}

// delete ends the session with cookie value id.
func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, key(id))
}

// takeResult returns the last API answer and forgets it.
func (ss *sessions) takeResult(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	r := s.result
	s.result = ""
	return r
}

func (ss *sessions) setResult(s *session, r string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.result = r
}

// setCookie gives the browser the session id: HttpOnly (scripts never
// see it), SameSite=Lax (sent on the top-level redirect back from Rotor,
// not on cross-site posts), Secure when the app is served over https.
func setCookie(w http.ResponseWriter, id string, secure bool, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ttl / time.Second)})
}

func clearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}
