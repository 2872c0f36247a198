package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/rotor-auth/rotor/internal/store"
)

// familyColumns are familyCols as COPY wants them.
var familyColumns = []string{"id", "client_id", "subject", "scopes", "dpop_jkt", "generation", "live_hash",
	"prev_hash", "rotated_at", "grace_sealed", "grace_until", "created_at", "last_used_at",
	"expires_at", "absolute_expires_at", "last_ip", "last_user_agent", "revoked_at", "revoke_reason"}

// CreateFamilies inserts families with one COPY, the fastest way into
// PostgreSQL: a single statement, so all or none. [store.ErrConflict] if
// any id exists or repeats (COPY has no ON CONFLICT; the unique violation
// aborts it).
func (db *DB) CreateFamilies(ctx context.Context, families []*store.Family) error {
	if len(families) == 0 {
		return nil
	}
	_, err := db.pool.CopyFrom(ctx, pgx.Identifier{"families"}, familyColumns,
		pgx.CopyFromSlice(len(families), func(i int) ([]any, error) {
			f := families[i]
			gen, err := genIn(f.Generation)
			if err != nil {
				return nil, err
			}
			return []any{f.ID, f.ClientID, f.Subject, listIn(f.Scopes), f.DPoPJKT, gen, f.LiveHash,
				f.PrevHash, timeIn(f.RotatedAt), f.GraceSealed, timeIn(f.GraceUntil), timeIn(f.CreatedAt),
				timeIn(f.LastUsedAt), timeIn(f.ExpiresAt), timeIn(f.AbsoluteExpiresAt), f.LastIP,
				f.LastUserAgent, timeIn(f.RevokedAt), f.RevokeReason}, nil
		}))
	return mapErr(err)
}
