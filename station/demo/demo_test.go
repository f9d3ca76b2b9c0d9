package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The demo keeps only the newest saved cards: it issues several a second
// all day.
func TestPruneSavedKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 10; i++ {
		p := filepath.Join(dir, fmt.Sprintf("card%02d.json", i))
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute))
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600)
	if err := pruneSaved(dir, 3); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	want := []string{"card07.json", "card08.json", "card09.json", "notes.txt"}
	if len(left) != len(want) {
		t.Fatalf("left %v", left)
	}
	for i, w := range want {
		if filepath.Base(left[i]) != w {
			t.Errorf("left %v, want %v", left, want)
			break
		}
	}
}
