//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package client

import (
	"context"
	"path/filepath"
	"sync"
)

// locks holds one lock per token file path, for systems without flock:
// they exclude the Sources of this process only (see [FileStore]).
var locks sync.Map // absolute path → chan struct{}

func lockFile(ctx context.Context, path string) (func() error, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	v, _ := locks.LoadOrStore(path, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		var once sync.Once
		return func() error {
			once.Do(func() { <-ch })
			return nil
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// syncDir is a no-op: not every such system can sync a directory, and
// the rename is atomic there all the same.
func syncDir(string) error { return nil }
