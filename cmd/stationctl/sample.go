package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/application/synthetic"
)

func init() {
	register(command{
		name:    "sample",
		summary: "write applications of invented people, as central sends them",
		run:     runSample,
	})
}

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sample", stderr)
	out := fs.String("out", "", "write one application to this file (or, with --count > 1, into this directory)")
	count := fs.Int("count", 1, "number of applications")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same people")
	first := fs.Int("first", 0, "number of the first person")
	policy := fs.String("policy", string(application.PolicyCCCD2014), "renewal-age policy for the expiry dates")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError("--out is required")
	}
	pol, err := application.ParsePolicy(*policy)
	if err != nil {
		return usageError("--policy: %v", err)
	}
	opts := synthetic.Options{IssueDate: time.Now(), Policy: pol}
	if *count == 1 {
		b, err := synthetic.Application(*seed, *first, opts)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, b, 0o600)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	for i := *first; i < *first+*count; i++ {
		b, err := synthetic.Application(*seed, i, opts)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, synthetic.Slug(i)+".json"), b, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d applications of invented people in %s\n", *count, *out)
	return nil
}
