package resource

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// proofKey is a replay-cache key for test proof i of key jkt.
func proofKey(jkt string, i int) [32]byte { return replayKey(jkt, fmt.Sprint(i)) }

// TestReplayCacheExpiresFromFirstSight: a proof dated ahead leaves the
// cache when a fresh proof seen at the same moment would, and its key's
// floor refuses its replay for as long as its age would still let it
// pass; then the key is forgotten too.
func TestReplayCacheExpiresFromFirstSight(t *testing.T) {
	const window, t0 = 60, 1_000_000
	c := newReplayCache(16, window*time.Second)
	ahead := proofKey("a", 1)
	if got := c.admit("a", ahead, t0+30, t0); got != admitNew {
		t.Fatalf("admit = %v", got)
	}
	// Past t0 + window the entry is gone, though iat + window is not yet.
	if got := c.admit("b", proofKey("b", 1), t0+window+1, t0+window+1); got != admitNew {
		t.Fatalf("admit = %v", got)
	}
	if _, ok := c.seen[ahead]; ok {
		t.Fatal("a proof dated ahead still holds its entry after a fresh one's would have gone")
	}
	if got := c.admit("a", ahead, t0+30, t0+window+1); got == admitNew {
		t.Fatal("the proof dated ahead was replayed once its entry was gone")
	}
	if got := c.admit("a", proofKey("a", 2), t0+window+1, t0+window+1); got != admitNew {
		t.Fatalf("a fresh proof by the same key: %v", got)
	}
	// Once the floor is window old, nothing of key a is kept.
	c.admit("b", proofKey("b", 2), t0+3*window, t0+3*window)
	if _, ok := c.keys["a"]; ok || len(c.seen) != 1 || c.idle.Len() != 0 || c.byShare.Len() != 1 {
		t.Fatalf("left behind: %d keys, %d entries, %d floors", len(c.keys), len(c.seen), c.idle.Len())
	}
}

// TestReplayCacheEvictsLargestShare: a full cache takes from the key with
// the most entries, so others keep theirs; only as many keys as slots
// makes a proof by one more key wait.
func TestReplayCacheEvictsLargestShare(t *testing.T) {
	const now = 1_000_000
	c := newReplayCache(4, time.Minute)
	for i := range 3 {
		c.admit("flood", proofKey("flood", i), now+30, now)
	}
	c.admit("honest", proofKey("honest", 0), now, now)
	if got := c.admit("honest", proofKey("honest", 1), now, now); got != admitNew {
		t.Fatalf("full cache: %v", got)
	}
	if c.keys["flood"].n != 2 || c.keys["honest"].n != 2 {
		t.Fatalf("shares: flood %d, honest %d; want 2 and 2", c.keys["flood"].n, c.keys["honest"].n)
	}
	// The evicted proof stays refused.
	if got := c.admit("flood", proofKey("flood", 0), now+30, now); got == admitNew {
		t.Fatal("an evicted proof was replayed")
	}
	for i := range 2 {
		c.admit(fmt.Sprint("k", i), proofKey(fmt.Sprint("k", i), 0), now, now)
	}
	// Four keys, one entry each: a fifth key has no slot to take ...
	if got := c.admit("late", proofKey("late", 0), now, now); got != admitFull {
		t.Fatalf("a fifth key in a cache of four singletons: %v, want admitFull", got)
	}
	// ... but a key that holds one may trade it for a newer proof.
	if got := c.admit("k0", proofKey("k0", 1), now, now); got != admitNew {
		t.Fatalf("k0's next proof: %v", got)
	}
}

// TestReplayCacheNeverAdmitsTwice drives the cache with random proofs,
// dated from window-old to leeway-ahead, replays and clock steps, and
// checks against a model that a proof the age check would still pass is
// never admitted twice, and that the size bounds what is held.
func TestReplayCacheNeverAdmitsTwice(t *testing.T) {
	const window, leeway, size = 20, 10, 32
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c := newReplayCache(size, window*time.Second)
		type proof struct {
			jkt string
			id  int
			iat int64
		}
		var admitted []proof
		now := int64(1_000_000)
		for step := range 5000 {
			switch r := rng.IntN(100); {
			case r < 5:
				now += int64(rng.IntN(5))
			case r < 35 && len(admitted) > 0:
				p := admitted[rng.IntN(len(admitted))]
				if p.iat < now-window || p.iat > now+leeway {
					continue // the age check refuses it before the cache
				}
				if got := c.admit(p.jkt, proofKey(p.jkt, p.id), p.iat, now); got == admitNew {
					t.Fatalf("seed %d step %d: proof %+v admitted twice", seed, step, p)
				}
			default:
				p := proof{jkt: fmt.Sprint("key", rng.IntN(40)), id: step, iat: now - window + rng.Int64N(window+leeway+1)}
				if c.admit(p.jkt, proofKey(p.jkt, p.id), p.iat, now) == admitNew {
					admitted = append(admitted, p)
				}
			}
			if held := len(c.seen) + c.idle.Len(); held > size {
				t.Fatalf("seed %d step %d: %d slots held, more than %d", seed, step, held, size)
			}
			if len(c.keys) > size || c.byShare.Len() != len(c.keys) {
				t.Fatalf("seed %d step %d: %d keys, %d in the share heap", seed, step, len(c.keys), c.byShare.Len())
			}
		}
	}
}
