package queue

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestASecondOpenOfTheSameDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.db")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, testKey(), Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	// Readers (stationctl audit verify) are not locked out.
	if rep, err := VerifyAuditFile(path); err != nil || !rep.OK {
		t.Fatalf("VerifyAuditFile beside an open store: %+v %v", rep, err)
	}
	s.Close()
	s, err = Open(path, testKey(), Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

func TestOpenCreatesPrivateFilesUnderAnyPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir #1 ?x=%41")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "station.db")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	submit(t, s, "A")
	for _, f := range []string{"station.db", "station.db-wal", "station.db.audit-head"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v (the URI was misread?)", f, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: group or others may read it", f, fi.Mode().Perm())
		}
	}
	s.Close()
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("files created outside the directory: %v", entries)
	}
	if rep, err := VerifyAuditFile(path); err != nil || !rep.OK || rep.Entries != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestReaderOperationsAreAuditedAsTheReader(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "A", StatePrepared, false)
	c, err := s.Claim(ctx, "Virtual PCD 00 01", "S-1")
	if err != nil {
		t.Fatal(err)
	}
	s.MarkWriting(ctx, c)
	log, _ := s.AuditLog(ctx, AuditFilter{Actor: "reader:Virtual PCD 00 01"})
	if len(log) != 3 { // card claimed, prepared → personalizing, claimed → writing
		t.Fatalf("entries by the reader: %+v", log)
	}
	s.MarkVerifying(WithActor(ctx, "technician:an"), c)
	if log, _ := s.AuditLog(ctx, AuditFilter{Actor: "technician:an"}); len(log) != 2 {
		t.Fatalf("an explicit actor was overridden: %+v", log)
	}
}
