package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/cccd-station/station/api"
)

// The API's bearer tokens live in DATA/auth.db (package api), beside the
// job store; stationd reads them at every request, so a change here holds
// at once.

func init() {
	register(command{
		name:    "token add",
		summary: "create an API token (shown once; stored hashed): --data-dir D --name N --role R",
		run:     runTokenAdd,
	})
	register(command{
		name:    "token revoke",
		summary: "revoke an API token: --data-dir D NAME",
		run:     runTokenRevoke,
	})
	register(command{
		name:    "token list",
		summary: "list API tokens (names, roles, use; never the tokens)",
		run:     runTokenList,
	})
}

// openAuth opens DIR/auth.db.
func openAuth(dataDir string) (*api.Auth, error) {
	if dataDir == "" {
		return nil, usageError("--data-dir is required (the station's data directory)")
	}
	return api.OpenAuth(filepath.Join(dataDir, "auth.db"))
}

func runTokenAdd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token add", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	name := fs.String("name", "", "token name (lower-case letters, digits, '.', '_', '-')")
	role := fs.String("role", "central", "role: central, or a panel role for scripts (operator, technician, auditor, admin)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || fs.NArg() > 0 {
		return usageError("usage: stationctl token add --data-dir DIR --name NAME [--role ROLE]")
	}
	r, err := api.ParseRole(*role)
	if err != nil {
		return usageError("--role: one of central, operator, technician, auditor, admin")
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	tok, err := a.AddToken(*name, r)
	switch {
	case errors.Is(err, api.ErrExists):
		return fmt.Errorf("a token named %q exists (revoked ones keep their name): choose another", *name)
	case errors.Is(err, api.ErrBadName):
		return usageError("--name: %v", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stderr, "token %q (role %s) created. It is shown once, here; the station keeps only its hash.\n", *name, r)
	fmt.Fprintln(stdout, tok)
	return nil
}

func runTokenRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token revoke", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	name := fs.String("name", "", "token name (or as the argument)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" && fs.NArg() == 1 {
		*name = fs.Arg(0)
	}
	if *name == "" || fs.NArg() > 1 || (fs.NArg() == 1 && fs.Arg(0) != *name) {
		return usageError("usage: stationctl token revoke --data-dir DIR NAME")
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.RevokeToken(*name); errors.Is(err, api.ErrUnknown) {
		return fmt.Errorf("no token named %q", *name)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %q revoked\n", *name)
	return nil
}

func runTokenList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token list", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("usage: stationctl token list --data-dir DIR")
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.Tokens()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tSTATUS")
	for _, t := range list {
		status := "active"
		if t.Revoked != nil {
			status = "revoked " + stamp(*t.Revoked)
		}
		used := "never"
		if t.LastUsed != nil {
			used = stamp(*t.LastUsed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, stamp(t.Created), used, status)
	}
	return tw.Flush()
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }
