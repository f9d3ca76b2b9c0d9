package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cccd-station/station/pcsc/vcard/emrtd"
)

// scp03MasterJSON is the JSON form of an --scp03-master file: the
// station's TEST master key file (stationctl pki init: scp03-master.json,
// kvn a number) or the same with kvn as one hex byte ("30").
type scp03MasterJSON struct {
	KVN json.RawMessage `json:"kvn"`
	ENC string          `json:"enc"`
	MAC string          `json:"mac"`
	DEK string          `json:"dek"`
}

// readSCP03Master reads an --scp03-master file (see the package comment).
// Errors name the field, never a key's value.
func readSCP03Master(path string) (emrtd.SCP03Master, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return emrtd.SCP03Master{}, usagef("--scp03-master: %v", err)
	}
	m, err := parseSCP03Master(b)
	if err != nil {
		return emrtd.SCP03Master{}, usagef("--scp03-master %s: %v", path, err)
	}
	return m, nil
}

func parseSCP03Master(b []byte) (emrtd.SCP03Master, error) {
	var f scp03MasterJSON
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return emrtd.SCP03Master{}, fmt.Errorf("not the JSON {\"kvn\", \"enc\", \"mac\", \"dek\"} of hex strings")
		}
		if dec.Decode(&struct{}{}) != io.EOF {
			return emrtd.SCP03Master{}, fmt.Errorf("more than one JSON object")
		}
	} else {
		var words []string
		for _, line := range strings.Split(string(b), "\n") {
			if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") {
				words = append(words, strings.Fields(l)...)
			}
		}
		if len(words) != 4 {
			return emrtd.SCP03Master{}, fmt.Errorf("want four hex words KVN ENC MAC DEK, found %d", len(words))
		}
		f = scp03MasterJSON{json.RawMessage(strconv.Quote(words[0])), words[1], words[2], words[3]}
	}
	var kvn uint64
	var err error
	if hexKVN, qerr := strconv.Unquote(string(f.KVN)); qerr == nil {
		if kvn, err = strconv.ParseUint(hexKVN, 16, 8); err != nil || len(hexKVN) != 2 {
			return emrtd.SCP03Master{}, fmt.Errorf("kvn must be one byte in hex, e.g. \"30\", or a number, e.g. 48")
		}
	} else if kvn, err = strconv.ParseUint(string(f.KVN), 10, 8); err != nil {
		return emrtd.SCP03Master{}, fmt.Errorf("kvn must be one byte in hex, e.g. \"30\", or a number, e.g. 48")
	}
	var keys [3][]byte
	for i, k := range []struct{ name, hex string }{{"enc", f.ENC}, {"mac", f.MAC}, {"dek", f.DEK}} {
		if keys[i], err = hex.DecodeString(k.hex); err != nil {
			return emrtd.SCP03Master{}, fmt.Errorf("%s is not hex", k.name)
		}
	}
	return emrtd.NewSCP03Master(byte(kvn), keys[0], keys[1], keys[2])
}
