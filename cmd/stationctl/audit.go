package main

import (
	"fmt"
	"io"

	"github.com/cccd-station/station/queue"
)

func init() {
	register(command{
		name:    "audit verify",
		summary: "verify the hash chain of a station database's audit log (read-only; safe while stationd runs)",
		run:     runAuditVerify,
	})
}

// runAuditVerify walks the audit chain of a station database opened
// read-only (WAL readers do not block the daemon) and compares its end with
// the head anchor beside it. Exit 0 when intact, 1 otherwise.
func runAuditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	db := fs.String("db", "", "the station database (required); its head anchor is DB.audit-head")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *db == "" || fs.NArg() > 0 {
		return usageError("usage: stationctl audit verify --db PATH")
	}
	rep, err := queue.VerifyAuditFile(*db)
	if err != nil {
		return err
	}
	head := rep.Head
	if head == "" {
		head = "(empty log)"
	}
	fmt.Fprintf(stdout, "entries checked: %d\nhead: %s\n", rep.Entries, head)
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "PROBLEM: %s\n", p)
	}
	if !rep.OK {
		return fmt.Errorf("audit log of %s is NOT intact: %d problem(s)", *db, len(rep.Problems))
	}
	fmt.Fprintln(stdout, "audit log intact")
	return nil
}
