package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// ErrUnseal is returned when a sealed value does not open: wrong key,
// wrong context, or tampering.
var ErrUnseal = errors.New("secret: sealed value does not open")

// Seal encrypts plaintext with AES-256-GCM under the short-lived sealing
// key, bound to context (for example a family id), so a sealed value cannot
// be moved to another row.
func (k *Keys) Seal(plaintext, context []byte) []byte { return seal(k.seal, plaintext, context) }

// Open reverses [Keys.Seal].
func (k *Keys) Open(sealed, context []byte) ([]byte, error) { return open(k.seal, sealed, context) }

// SealKey encrypts signing-key material under the key-encryption key.
func (k *Keys) SealKey(plaintext, context []byte) []byte { return seal(k.keySeal, plaintext, context) }

// OpenKey reverses [Keys.SealKey].
func (k *Keys) OpenKey(sealed, context []byte) ([]byte, error) {
	return open(k.keySeal, sealed, context)
}

func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are always 32 bytes
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

func seal(key, plaintext, context []byte) []byte {
	a := gcm(key)
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, context)
}

func open(key, sealed, context []byte) ([]byte, error) {
	a := gcm(key)
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrUnseal
	}
	pt, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], context)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}
