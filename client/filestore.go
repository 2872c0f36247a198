package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenFile caps how much of a token file is read.
const maxTokenFile = 64 << 10

// FileStore is a [Store] in a JSON file, readable by its owner only (mode
// 0600). Save writes a temporary file in the same directory, syncs it and
// renames it over the old one, so a crash leaves either the old token or
// the new one, never a torn file.
//
// It implements [Locker] with an advisory lock (flock) on a sidecar file,
// path + ".lock", so that processes sharing the file never refresh the same
// token twice. On systems without flock (Windows, Plan 9, ...), the lock
// excludes only the Sources of one process; there, do not share the file
// between processes that refresh at the same time.
//
// It implements [Clearer] by removing the file.
type FileStore struct {
	path string
}

// NewFileStore returns a FileStore at path. The file and its directory
// (mode 0700) are created on the first Save.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

var (
	_ Store   = (*FileStore)(nil)
	_ Locker  = (*FileStore)(nil)
	_ Clearer = (*FileStore)(nil)
)

// Path returns the token file's path.
func (f *FileStore) Path() string { return f.path }

// tokenFile is the file's content. The version lets a later format be told
// apart instead of misread.
type tokenFile struct {
	Version      int       `json:"version"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

const tokenFileVersion = 1

// Load reads the token; [ErrNoToken] if the file does not exist.
func (f *FileStore) Load(context.Context) (*oauth2.Token, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoToken, f.path)
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxTokenFile+1))
	if err != nil {
		return nil, err
	}
	tok, err := parseTokenFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return tok, nil
}

// parseTokenFile decodes a token file strictly. Errors never quote the
// content: it holds tokens.
func parseTokenFile(data []byte) (*oauth2.Token, error) {
	if len(data) > maxTokenFile {
		return nil, fmt.Errorf("client: token file larger than %d bytes", maxTokenFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var tf tokenFile
	if err := dec.Decode(&tf); err != nil {
		return nil, errors.New("client: token file is not a valid token document")
	}
	if dec.More() {
		return nil, errors.New("client: token file has data after the token document")
	}
	if tf.Version != tokenFileVersion {
		return nil, fmt.Errorf("client: token file has version %d, want %d", tf.Version, tokenFileVersion)
	}
	return &oauth2.Token{AccessToken: tf.AccessToken, TokenType: tf.TokenType, RefreshToken: tf.RefreshToken, Expiry: tf.Expiry}, nil
}

// Save replaces the file atomically: temporary file, fsync, rename, fsync
// of the directory.
func (f *FileStore) Save(_ context.Context, tok *oauth2.Token) error {
	if tok == nil {
		return errors.New("client: Save of a nil token")
	}
	data, err := json.Marshal(tokenFile{Version: tokenFileVersion, AccessToken: tok.AccessToken,
		TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// CreateTemp opens with mode 0600, so the token is never readable by
	// others, not even for a moment.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	done = true
	return syncDir(dir)
}

// Clear removes the file; a missing file is not an error.
func (f *FileStore) Clear(context.Context) error {
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// Lock takes the advisory lock on path + ".lock"; see [Locker].
func (f *FileStore) Lock(ctx context.Context) (func() error, error) {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return nil, err
	}
	return lockFile(ctx, f.path+".lock")
}
