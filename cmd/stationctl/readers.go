package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cccd-station/station/pcsc"
)

func init() {
	register(command{
		name:    "readers",
		summary: "list PC/SC readers, card presence, ATR and chip serial",
		run:     runReaders,
	})
}

// readerRow is one line of `stationctl readers`.
type readerRow struct {
	Reader string `json:"reader"`
	Card   string `json:"card"` // "none", "present", "in use", "mute"
	ATR    string `json:"atr,omitempty"`
	Serial string `json:"serial,omitempty"`
	Error  string `json:"error,omitempty"`
}

func runReaders(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("readers", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	noSerial := fs.Bool("no-serial", false, "do not connect to cards to read their serial")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("readers takes no arguments")
	}
	sys, err := pcsc.Open()
	if err != nil {
		if errors.Is(err, pcsc.ErrNoService) {
			return fmt.Errorf("%w\n(start pcscd, or point PCSCLITE_CSOCK_NAME at its socket: 'vcard stack' prints the line)", err)
		}
		return err
	}
	defer sys.Close()
	states, err := sys.List()
	if err != nil {
		return err
	}
	rows := make([]readerRow, 0, len(states))
	for _, st := range states {
		row := readerRow{Reader: st.Name, Card: "none"}
		switch {
		case st.Mute:
			row.Card = "mute"
		case st.InUse:
			row.Card = "in use"
		case st.Present:
			row.Card = "present"
		}
		if len(st.ATR) > 0 {
			row.ATR = strings.ToUpper(hex.EncodeToString(st.ATR))
		}
		if st.Present && !st.InUse && !st.Mute && !*noSerial {
			row.Serial, err = readerSerial(sys, st.Name)
			if err != nil {
				row.Error = err.Error()
			}
		}
		rows = append(rows, row)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no readers")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "READER\tCARD\tATR\tSERIAL")
	for _, r := range rows {
		serial := r.Serial
		if r.Error != "" {
			serial = "error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Reader, r.Card, dash(r.ATR), dash(serial))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readerSerial connects, reads the chip serial (CPLC, or UID) and
// disconnects leaving the card as it was (SCARD_LEAVE_CARD): a card in a
// feeder is not taken away by looking at it.
func readerSerial(sys *pcsc.System, reader string) (string, error) {
	conn, err := sys.Connect(reader)
	if err != nil {
		return "", err
	}
	defer conn.Close(pcsc.LeaveCard)
	return pcsc.ReadSerial(pcsc.NewCard(conn, pcsc.WithReaderName(reader)))
}
