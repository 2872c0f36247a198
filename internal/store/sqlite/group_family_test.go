package sqlite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotor-auth/rotor/internal/family"
	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store"
)

// TestGroupCommitRefreshSemantics runs many refreshes of one token inside
// one shared commit and checks the concurrency contract (docs/design.md) holds there
// as it does with a commit each: one successor; with a grace period every
// caller gets that same successor; without one, the first rotates and the
// others are replays that revoke the family, in the same commit.
func TestGroupCommitRefreshSemantics(t *testing.T) {
	for _, grace := range []time.Duration{15 * time.Second, 0} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db, _ := openTest(t)
				ctx := context.Background()
				keys, err := secret.Derive(secret.NewMasterKey())
				if err != nil {
					t.Fatal(err)
				}
				cfg := family.DefaultConfig()
				cfg.ReuseGrace = grace
				svc := family.New(db, keys, cfg, time.Now, nil)
				now := time.Now()
				client := &store.Client{ID: "app", Public: true, GrantTypes: []string{"refresh_token"}, Scopes: []string{"read"}, CreatedAt: now, UpdatedAt: now}
				user := &store.User{ID: "u1", Username: "alice", CreatedAt: now.Add(-time.Hour), UpdatedAt: now}
				if err := db.CreateClient(ctx, client); err != nil {
					t.Fatal(err)
				}
				if err := db.CreateUser(ctx, user); err != nil {
					t.Fatal(err)
				}
				g, err := svc.Create(ctx, family.CreateParams{Client: client, User: user, Scopes: []string{"read"}, AccessTokenID: "jti0", Grant: "password"})
				if err != nil {
					t.Fatal(err)
				}

				queued, release := holdCommitter(t, db)
				const n = 20
				var wg sync.WaitGroup
				grants := make([]*family.Grant, n)
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() {
						grants[i], errs[i] = svc.Refresh(ctx, family.RefreshParams{Client: client, Token: g.RefreshToken, AccessTokenID: secret.NewID()})
					})
				}
				queued(n)
				before := db.group.batches.Load()
				release()
				wg.Wait()
				// The held commit and one for all twenty refreshes. (Without a
				// grace period, the audit events of the refused ones follow in
				// commits of their own, after their refresh transactions.)
				if got := db.group.batches.Load() - before; got < 2 || (grace > 0 && got != 2) {
					t.Fatalf("%d commits for %d refreshes queued together", got, n)
				}

				ok, successors := 0, map[string]bool{}
				for i := range n {
					var fe *family.Error
					switch {
					case errs[i] == nil:
						ok++
						successors[grants[i].RefreshToken] = true
					case errors.As(errs[i], &fe):
					default:
						t.Fatalf("refresh %d: %v", i, errs[i])
					}
				}
				f, err := db.GetFamily(ctx, g.Family.ID)
				if err != nil {
					t.Fatal(err)
				}
				if grace > 0 {
					if ok != n || len(successors) != 1 || f.Revoked() || f.Generation != 2 {
						t.Fatalf("ok=%d successors=%d revoked=%v generation=%d; want %d, 1, live, 2", ok, len(successors), f.Revoked(), f.Generation, n)
					}
					return
				}
				if ok != 1 || !f.Revoked() {
					t.Fatalf("ok=%d revoked=%v; want one rotation and the family revoked for the replays", ok, f.Revoked())
				}
			})
		})
	}
}
