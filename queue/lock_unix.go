//go:build unix

package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDB takes an exclusive advisory lock (flock) on "<db>.lock" for the
// life of the store: two station processes on one database would each
// believe they are the single writer (the audit anchor, the in-memory
// state). Readers such as `stationctl audit verify` do not take it. The
// kernel releases it when the process dies, so a crash never leaves it
// stale.
func lockDB(dbPath string) (*os.File, error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: opening the lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked (%s)", ErrLocked, dbPath, path)
		}
		return nil, fmt.Errorf("queue: locking %s: %w", path, err)
	}
	return f, nil
}
