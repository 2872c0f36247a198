package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rotor-auth/rotor/internal/secret"
	"github.com/rotor-auth/rotor/internal/store/backend"
)

// EnvMasterKey is the environment variable holding the master key, base64
// or hex. It is deliberately not a configuration key: a secret does not
// belong in a YAML file or on a command line.
const EnvMasterKey = "ROTOR_MASTER_KEY"

// MasterKey returns the master key, from the first of:
//  1. the ROTOR_MASTER_KEY environment variable;
//  2. the file named by master_key_file, which must exist;
//  3. for an embedded SQLite database only, the file [MasterKeyPath]
//     beside it, created with mode 0600 when missing (with a warning that
//     production sets ROTOR_MASTER_KEY).
//
// A key file readable by group or others is refused. A PostgreSQL
// database with neither 1 nor 2 is an error: replicas must share one key,
// so Rotor never invents one for them.
func (c *Config) MasterKey(lookupEnv func(string) (string, bool), log *slog.Logger) ([]byte, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lookupEnv != nil {
		if v, ok := lookupEnv(EnvMasterKey); ok && v != "" {
			k, err := secret.DecodeMasterKey(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", EnvMasterKey, err)
			}
			return k, nil
		}
	}
	if c.MasterKeyFile != "" {
		k, err := readKeyFile(c.MasterKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("master key file %s does not exist: create one with\n  (umask 077; head -c 32 /dev/urandom | base64 > %s)\nand keep a copy: without it no token or signing key can be used", c.MasterKeyFile, c.MasterKeyFile)
		}
		return k, err
	}
	path, ok := MasterKeyPath(c.DB)
	if !ok {
		return nil, fmt.Errorf("no master key: set %s (32 random bytes, base64: head -c 32 /dev/urandom | base64) or master_key_file; every replica sharing a PostgreSQL database must use the same key", EnvMasterKey)
	}
	k, err := readKeyFile(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, created, err := createKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a master key file beside the database; production sets "+EnvMasterKey+" instead and keeps the key out of the data directory",
			"file", path)
	}
	return k, nil
}

// MasterKeyPath returns the file that holds the master key of an embedded
// SQLite database: the database's path with ".masterkey" appended
// (rotor.db → rotor.db.masterkey). It returns false for any other DSN.
func MasterKeyPath(dsn string) (string, bool) {
	db, ok := backend.SQLitePath(dsn)
	if !ok {
		return "", false
	}
	return db + ".masterkey", true
}

// readKeyFile reads and decodes a master key file, refusing one that
// group or others may read.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %04o, readable by others: run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %v", path, err)
	}
	k, err := secret.DecodeMasterKey(string(buf[:n]))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %v", path, err)
	}
	return k, nil
}

// createKeyFile writes a new random key to path, mode 0600, unless another
// process got there first, in which case it returns that one's key. The
// key is written to a temporary file and linked into place, so nobody ever
// reads a half-written key.
func createKeyFile(path string) (key []byte, created bool, err error) {
	k := secret.NewMasterKey()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".masterkey-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("create master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret.EncodeMasterKey(k) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("write master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, err := readKeyFile(path)
			return k, false, err
		}
		// Some file systems have no hard links: create the file in place.
		return createKeyFileDirect(path, k)
	}
	return k, true, nil
}

func createKeyFileDirect(path string, k []byte) ([]byte, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		k, err := readKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create master key file %s: %w", path, err)
	}
	_, err = f.WriteString(secret.EncodeMasterKey(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("write master key file %s: %w", path, err)
	}
	return k, true, nil
}
