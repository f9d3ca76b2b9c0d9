//go:build !unix

package queue

import "os"

// lockDB: no advisory lock on this platform (the station runs on Linux).
func lockDB(string) (*os.File, error) { return nil, nil }
