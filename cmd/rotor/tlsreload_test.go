package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a fresh self-signed certificate for name and its key.
func writeCert(t *testing.T, certFile, keyFile, name string, mtime time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func leafName(t *testing.T, r *certReloader) string {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	writeCert(t, certFile, keyFile, "one.example", t0)

	now := t0
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if got := leafName(t, r); got != "one.example" {
		t.Fatalf("serving %q", got)
	}

	writeCert(t, certFile, keyFile, "two.example", t0.Add(time.Minute))
	if got := leafName(t, r); got != "one.example" {
		t.Fatal("files were checked again within the check interval")
	}
	now = now.Add(2 * time.Second)
	if got := leafName(t, r); got != "two.example" {
		t.Fatalf("renewed certificate not picked up: serving %q", got)
	}

	// A broken pair keeps the previous certificate.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if got := leafName(t, r); got != "two.example" {
		t.Fatalf("a broken key replaced the certificate: serving %q", got)
	}

	if cfg := tlsConfig(r); cfg.MinVersion < 0x0303 {
		t.Fatal("TLS below 1.2 allowed")
	}
	if _, err := newCertReloader(filepath.Join(dir, "missing.pem"), keyFile, nil, time.Now); err == nil {
		t.Fatal("a missing certificate was accepted")
	}
}
