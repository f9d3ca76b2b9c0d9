package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cccd-station/station/api"
)

// Panel accounts live in DATA/auth.db (package api). Passwords come from
// --password-file (mode 0600 advised; "-" for standard input), from a
// prompt without echo on a terminal, or from the first line of standard
// input; never from the command line, where ps and the shell's history
// would keep them.

func init() {
	register(command{
		name:    "user add",
		summary: "add a panel account: --data-dir D --name N --role operator|technician|auditor|admin",
		run:     runUserAdd,
	})
	register(command{
		name:    "user passwd",
		summary: "set a panel account's password (clears a lockout, ends its sessions)",
		run:     runUserPasswd,
	})
	register(command{
		name:    "user disable",
		summary: "disable a panel account (ends its sessions)",
		run:     runUserDisable,
	})
	register(command{
		name:    "user enable",
		summary: "enable a disabled panel account and clear its lockout",
		run:     runUserEnable,
	})
	register(command{
		name:    "user list",
		summary: "list panel accounts",
		run:     runUserList,
	})
}

// stdin is where passwords are read when no file is given (tests replace
// it).
var stdin io.Reader = os.Stdin

func runUserAdd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user add", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	name := fs.String("name", "", "user name (lower-case letters, digits, '.', '_', '-')")
	role := fs.String("role", "", "operator, technician, auditor or admin")
	pwFile := fs.String("password-file", "", `read the password from this file ("-": standard input); default: prompt`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *role == "" || fs.NArg() > 0 {
		return usageError("usage: stationctl user add --data-dir DIR --name NAME --role ROLE [--password-file FILE]")
	}
	r, err := api.ParseRole(*role)
	if err != nil || r == api.RoleCentral {
		return usageError("--role: one of operator, technician, auditor, admin")
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	pw, err := readPassword(*pwFile, stderr)
	if err != nil {
		return err
	}
	if err := userErr(a.AddUser(*name, r, pw), *name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %q added (role %s)\n", *name, r)
	return nil
}

func runUserPasswd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user passwd", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	name := fs.String("name", "", "user name (or as the argument)")
	pwFile := fs.String("password-file", "", `read the password from this file ("-": standard input); default: prompt`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nameArg(fs.Args(), name, "passwd"); err != nil {
		return err
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	pw, err := readPassword(*pwFile, stderr)
	if err != nil {
		return err
	}
	if err := userErr(a.SetPassword(*name, pw), *name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %q set; its sessions ended\n", *name)
	return nil
}

func runUserDisable(args []string, stdout, stderr io.Writer) error {
	return userSwitch("disable", args, stdout, stderr, (*api.Auth).DisableUser, "disabled; its sessions ended")
}

func runUserEnable(args []string, stdout, stderr io.Writer) error {
	return userSwitch("enable", args, stdout, stderr, (*api.Auth).EnableUser, "enabled")
}

func userSwitch(verb string, args []string, stdout, stderr io.Writer, f func(*api.Auth, string) error, done string) error {
	fs := newFlagSet("user "+verb, stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	name := fs.String("name", "", "user name (or as the argument)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := nameArg(fs.Args(), name, verb); err != nil {
		return err
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := userErr(f(a, *name), *name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %q %s\n", *name, done)
	return nil
}

func runUserList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user list", stderr)
	dataDir := fs.String("data-dir", "", "the station's data directory (auth.db)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("usage: stationctl user list --data-dir DIR")
	}
	a, err := openAuth(*dataDir)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := a.Users()
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tLANG\tCREATED\tSTATUS")
	for _, u := range users {
		status := "active"
		switch {
		case u.Disabled:
			status = "disabled"
		case u.Locked(now):
			status = "locked until " + stamp(*u.LockedUntil)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Lang, stamp(u.Created), status)
	}
	return tw.Flush()
}

// nameArg takes the user name from --name or the single argument.
func nameArg(args []string, name *string, verb string) error {
	if *name == "" && len(args) == 1 {
		*name = args[0]
	}
	if *name == "" || len(args) > 1 || (len(args) == 1 && args[0] != *name) {
		return usageError("usage: stationctl user %s --data-dir DIR NAME", verb)
	}
	return nil
}

func userErr(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrExists):
		return fmt.Errorf("a user named %q exists", name)
	case errors.Is(err, api.ErrUnknown):
		return fmt.Errorf("no user named %q", name)
	case errors.Is(err, api.ErrBadName), errors.Is(err, api.ErrBadRole), errors.Is(err, api.ErrWeakPassword):
		return usageError("%v", err)
	}
	return err
}

// readPassword reads a new password: from a file, or standard input — with
// a prompt, without echo and twice, when it is a terminal.
func readPassword(file string, stderr io.Writer) (string, error) {
	switch {
	case file == "-":
		return firstLine(stdin)
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		return firstLine(f)
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		pw, err := promptNoEcho(f, stderr, "New password: ")
		if err != nil {
			return "", err
		}
		again, err := promptNoEcho(f, stderr, "Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the passwords differ")
		}
		return pw, nil
	}
	return firstLine(stdin)
}

// firstLine is the first line of r, without its line ending (at most 4
// KiB: a password is not a file).
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, 4096), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given")
	}
	return line, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// promptNoEcho reads a line from the terminal with echo turned off
// (termios ECHO, POSIX.1 General Terminal Interface §11.2.5).
func promptNoEcho(f *os.File, stderr io.Writer, prompt string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(stderr, prompt)
	var buf bytes.Buffer
	b := make([]byte, 1)
	for buf.Len() < 4096 {
		n, err := f.Read(b)
		if n == 0 || err != nil || b[0] == '\n' {
			break
		}
		buf.WriteByte(b[0])
	}
	fmt.Fprintln(stderr)
	return strings.TrimRight(buf.String(), "\r"), nil
}
