package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rotor-auth/rotor/internal/keys"
	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/sqlite"
	"github.com/rotor-auth/rotor/internal/token"
)

// Signer signs access tokens; [keys.Manager] is the implementation, the
// same one the server signs with.
type Signer = token.Signer

// floorTTL is the lifetime written in the floor's tokens (the server's
// default).
const floorTTL = 10 * time.Minute

// NewFloorHandler returns the floor: what a token request costs with no
// database at all. POST /oauth2/token caps and parses the form with the
// server's own parser, signs one access token with signer, and answers as
// the token endpoint does; there is no client authentication and nothing
// is stored. GET /healthz answers ok.
func NewFloorHandler(issuer string, signer Signer) http.Handler {
	// The server's own issuer: the floor signs the same claims the same
	// way, so that it costs as much as a real answer does.
	tokens := token.NewIssuer(issuer, signer, time.Now)
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		f, err := oauth.ParseForm(r, oauth.MaxFormBytes)
		if err != nil {
			var oe *oauth.Error
			if errors.As(err, &oe) {
				oauth.WriteError(w, oe)
				return
			}
			oauth.WriteError(w, oauth.ServerError("the form could not be read"))
			return
		}
		client, _, _ := r.BasicAuth()
		if client == "" {
			client = f.Get("client_id")
		}
		scope := f.Get("scope")
		if scope == "" {
			scope = benchScope
		}
		tok, _, err := tokens.Issue(r.Context(), token.Access{
			JTI: secret.NewID(), Subject: client, ClientID: client, Scopes: strings.Fields(scope),
			Audience: []string{issuer}, TTL: floorTTL,
		})
		if err != nil {
			oauth.WriteError(w, oauth.ServerError("signing failed"))
			return
		}
		oauth.WriteJSON(w, &oauth.TokenResponse{AccessToken: tok, TokenType: "Bearer",
			ExpiresIn: int64(floorTTL / time.Second), Scope: scope})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The headers and body cap the server sets on every request.
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, oauth.MaxFormBytes)
		}
		m.ServeHTTP(w, r)
	})
}

// NewFloorSigner returns a key manager holding one fresh key of the given
// algorithm, kept in a throwaway SQLite file that only the key's creation
// touches (a manager signs from memory and rereads its keys once a
// minute). close removes the file.
func NewFloorSigner(ctx context.Context, algorithm string) (signer *keys.Manager, close func(), err error) {
	dir, err := os.MkdirTemp("", "rotor-floor-")
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*keys.Manager, func(), error) {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("bench: floor signer: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		return fail(err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return fail(err)
	}
	sk, err := secret.Derive(secret.NewMasterKey())
	if err != nil {
		st.Close()
		return fail(err)
	}
	km := keys.NewManager(st, sk, keys.Options{Algorithm: strings.TrimSpace(algorithm), ReloadInterval: time.Minute})
	if err := km.EnsureCurrent(ctx); err != nil {
		st.Close()
		return fail(err)
	}
	return km, func() { st.Close(); _ = os.RemoveAll(dir) }, nil
}
