package secret

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func testKeys(t testing.TB) *Keys {
	k, err := Derive(bytes.Repeat([]byte{7}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRefreshTokenRoundTrip(t *testing.T) {
	k := testKeys(t)
	fid := NewFamilyID()
	tok, err := k.MintRefresh(fid, 42)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, PrefixRefreshToken) {
		t.Fatalf("%q lacks its prefix", tok)
	}
	rt, err := k.ParseRefresh(tok)
	if err != nil || rt.FamilyID != fid || rt.Generation != 42 {
		t.Fatalf("parsed %+v, %v", rt, err)
	}
	other, _ := k.MintRefresh(fid, 42)
	if other == tok {
		t.Fatal("two tokens of one generation must differ in their random part")
	}
}

func TestRefreshTokenRejectsTampering(t *testing.T) {
	k := testKeys(t)
	tok, _ := k.MintRefresh(NewFamilyID(), 3)
	body, _ := base64.RawURLEncoding.DecodeString(tok[3:])
	for i := range body {
		b := bytes.Clone(body)
		b[i] ^= 1
		if _, err := k.ParseRefresh("rt_" + base64.RawURLEncoding.EncodeToString(b)); err != ErrMalformed {
			t.Fatalf("flipping byte %d: %v", i, err)
		}
	}
	foreign, _ := Derive(bytes.Repeat([]byte{8}, MasterKeySize))
	if _, err := foreign.ParseRefresh(tok); err != ErrMalformed {
		t.Fatal("a token minted under another master key was accepted")
	}
	for _, s := range []string{"", "rt_", tok + "A", "xx" + tok[2:], strings.ToUpper(tok)} {
		if _, err := k.ParseRefresh(s); err != ErrMalformed {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestSealBindsContext(t *testing.T) {
	k := testKeys(t)
	s := k.Seal([]byte("successor"), []byte("fam|2"))
	if got, err := k.Open(s, []byte("fam|2")); err != nil || string(got) != "successor" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := k.Open(s, []byte("fam|3")); err != ErrUnseal {
		t.Fatal("opened under another context")
	}
	if _, err := k.OpenKey(s, []byte("fam|2")); err != ErrUnseal {
		t.Fatal("the key-sealing key opened a value of the grace-sealing key")
	}
}

func TestPasswordHash(t *testing.T) {
	h := HashPassword("hunter2")
	if err := VerifyPassword(h, "hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPassword(h, "hunter3"); err != ErrPasswordMismatch {
		t.Fatalf("wrong password: %v", err)
	}
	if err := VerifyPassword("$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "x"); err == nil {
		t.Fatal("absurd parameters accepted")
	}
}

func TestMasterKeyEncoding(t *testing.T) {
	k := NewMasterKey()
	got, err := DecodeMasterKey(EncodeMasterKey(k))
	if err != nil || !bytes.Equal(got, k) {
		t.Fatal("round trip failed")
	}
	if _, err := DecodeMasterKey("short"); err == nil {
		t.Fatal("short key accepted")
	}
}

// FuzzParseRefresh: the refresh-token decoder never panics, and what it
// accepts is a canonical token whose parts re-encode to the same string.
// (That no altered token verifies is TestRefreshTokenRejectsTampering's
// job: fuzz workers mint their own seed, so "the seed" is not one string.)
func FuzzParseRefresh(f *testing.F) {
	k := testKeys(f)
	tok, _ := k.MintRefresh(NewFamilyID(), 1)
	f.Add(tok)
	f.Add("rt_")
	f.Add("rt_" + strings.Repeat("A", 98))
	f.Fuzz(func(t *testing.T, s string) {
		rt, err := k.ParseRefresh(s)
		if err != nil {
			return
		}
		body, derr := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(s, PrefixRefreshToken))
		if derr != nil || PrefixRefreshToken+base64.RawURLEncoding.EncodeToString(body) != s {
			t.Fatalf("accepted a non-canonical token %q", s)
		}
		if fid := base64.RawURLEncoding.EncodeToString(body[1:17]); fid != rt.FamilyID {
			t.Fatalf("family id %q, want %q", rt.FamilyID, fid)
		}
	})
}

func BenchmarkMintRefresh(b *testing.B) {
	k := testKeys(b)
	fid := NewFamilyID()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.MintRefresh(fid, 7); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRefresh(b *testing.B) {
	k := testKeys(b)
	tok, _ := k.MintRefresh(NewFamilyID(), 7)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.ParseRefresh(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	k := testKeys(b)
	tok, _ := k.MintRefresh(NewFamilyID(), 7)
	b.ReportAllocs()
	for b.Loop() {
		k.Hash(tok)
	}
}
