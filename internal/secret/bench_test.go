package secret

import "testing"

// BenchmarkVerifyRefresh measures everything the server does with a
// presented refresh token before it reads the family row: decode it,
// check its MAC, and take the keyed hash it compares with the row's.
func BenchmarkVerifyRefresh(b *testing.B) {
	k := testKeys(b)
	tok, _ := k.MintRefresh(NewFamilyID(), 7)
	stored := k.Hash(tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.ParseRefresh(tok); err != nil {
			b.Fatal(err)
		}
		if !Equal(k.Hash(tok), stored) {
			b.Fatal("hash mismatch")
		}
	}
}

// BenchmarkSealGrace measures sealing a successor for the reuse grace
// period, done on every rotation, and opening it, done on a grace retry.
func BenchmarkSealGrace(b *testing.B) {
	k := testKeys(b)
	tok, _ := k.MintRefresh(NewFamilyID(), 8)
	ctx := []byte("grace|family|8")
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.Seal([]byte(tok), ctx)
		}
	})
	b.Run("open", func(b *testing.B) {
		sealed := k.Seal([]byte(tok), ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Open(sealed, ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
