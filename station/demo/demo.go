// Package demo assembles what the demo station needs besides the station
// itself: in-process virtual readers with card feeders of blank virtual
// chips, a TEST PKI, and a stand-in for the central system that sends
// applications of invented people and acknowledges their final states. It is
// linked into stationd for `--demo` only; production runs never call it.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cccd-station/station/application/synthetic"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// ChipsFor is the rack's model and SCP03 keys for a profile's demo: cccd
// chips holding the TEST SCP03 master keys of the PKI (a file), or the
// JMRTD applet's.
func ChipsFor(profile string, p *pki.PKI, o *RackOptions) error {
	if profile != "cccd" {
		return nil
	}
	if p.SCP03.Backend != "file" {
		return fmt.Errorf("demo: the cccd chips need the PKI's SCP03 master keys in a file (%s)", pki.SCP03File)
	}
	kvn, enc, mac, dek, err := signer.SCP03FileKeys(p.SCP03.File)
	if err != nil {
		return err
	}
	m, err := emrtd.NewSCP03Master(kvn, enc, mac, dek)
	if err != nil {
		return err
	}
	o.Model, o.SCP03 = emrtd.ModelCCCD, &m
	return nil
}

// EnsurePKI creates a TEST PKI in dir unless one is there, and loads it. A
// PKI made before the cccd profile gets its TEST SCP03 master keys.
func EnsurePKI(dir string) (*pki.PKI, error) {
	if _, err := os.Stat(filepath.Join(dir, pki.CSCAFile)); errors.Is(err, os.ErrNotExist) {
		if err := pki.Init(pki.Options{Dir: dir, Station: "demo"}); err != nil {
			return nil, err
		}
	}
	p, err := pki.Load(dir)
	if err != nil || p.SCP03.Backend != "" {
		return p, err
	}
	if err := signer.WriteSCP03File(filepath.Join(dir, pki.SCP03File), pki.SCP03KVN, 16); err != nil {
		return nil, err
	}
	return pki.Load(dir)
}

// ReaderName is the name of the i-th in-process reader.
func ReaderName(i int) string { return fmt.Sprintf("Demo Card Printer %02d", i) }

// Rack is n in-process readers, each fed with blank chips.
type Rack struct {
	*vcard.Rack
	Feeders []*vcard.Feeder
	wg      sync.WaitGroup
}

// RackOptions shape the virtual readers.
type RackOptions struct {
	Readers int         // default 4
	Model   emrtd.Model // default ext144
	// SCP03 are the master keys cccd chips diversify their keys from (the
	// station's TEST keys, from its PKI).
	SCP03   *emrtd.SCP03Master
	Latency emrtd.Latency // default off
	SaveDir string        // written cards are saved here as <serial>.json
	// Keep: how many saved cards SaveDir keeps, the newest (default 200):
	// a demo issues several cards a second all day.
	Keep int
	Log  *slog.Logger
}

// NewRack starts the readers and their feeders; they run until ctx is done.
func NewRack(ctx context.Context, o RackOptions) *Rack {
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.Model.Name == "" {
		o.Model = emrtd.ModelExt144
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	names := make([]string, o.Readers)
	for i := range names {
		names[i] = ReaderName(i)
	}
	r := &Rack{Rack: vcard.NewRack(names...)}
	if o.SaveDir != "" {
		if o.Keep <= 0 {
			o.Keep = 200
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			for {
				if err := pruneSaved(o.SaveDir, o.Keep); err != nil {
					o.Log.Warn("demo: pruning saved cards", "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	for _, name := range names {
		blank := func() (vcard.Persistent, error) {
			var opts []emrtd.Option
			if !o.Latency.IsZero() {
				opts = append(opts, emrtd.WithLatency(o.Latency))
			}
			if o.SCP03 != nil {
				opts = append(opts, emrtd.WithSCP03Master(*o.SCP03))
			}
			return emrtd.New(o.Model, opts...), nil
		}
		fopts := []vcard.FeederOption{vcard.FeederLog(o.Log)}
		if o.SaveDir != "" {
			fopts = append(fopts, vcard.SaveDir(o.SaveDir))
		}
		f := vcard.NewFeeder(r.Bay(name), blank, fopts...)
		r.Feeders = append(r.Feeders, f)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := f.Run(ctx); err != nil {
				o.Log.Error("demo feeder stopped", "reader", name, "err", err)
			}
		}()
	}
	return r
}

// pruneSaved deletes all but the keep newest saved cards of dir.
func pruneSaved(dir string, keep int) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	type saved struct {
		name string
		mod  time.Time
	}
	var cards []saved
	for _, e := range ents {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		if info, err := e.Info(); err == nil {
			cards = append(cards, saved{e.Name(), info.ModTime()})
		}
	}
	if len(cards) <= keep {
		return nil
	}
	sort.Slice(cards, func(i, j int) bool { return cards[i].mod.After(cards[j].mod) })
	var errs []error
	for _, c := range cards[keep:] {
		if err := os.Remove(filepath.Join(dir, c.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Wait returns when every feeder has stopped (ctx done).
func (r *Rack) Wait() { r.wg.Wait() }

// Central stands in for the central card management system: it keeps a
// backlog of applications of invented people waiting at the station, and
// acknowledges final states so that the station purges their data.
type Central struct {
	Station *station.Station
	Store   *queue.Store
	Backlog int   // applications kept waiting (validated + prepared): at least 3 per reader, default 12
	Seed    int64 // which invented people (default: from StateFile, else new)
	Log     *slog.Logger
	// AckAfter: how long after a final state central acknowledges it
	// (default 10 s; negative: never).
	AckAfter time.Duration
	// StateFile keeps the seed and the next invented person across
	// restarts (a real central never sends two applications under one id):
	// without it a restarted demo would invent other people under ids
	// already used, which the station rightly refuses as conflicts.
	StateFile string
	next      int
}

// centralState is what StateFile holds.
type centralState struct {
	Seed int64 `json:"seed"`
	Next int   `json:"next"`
}

// load reads StateFile; a missing file is a first start.
func (c *Central) load() error {
	if c.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st centralState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("demo central state %s: %w", c.StateFile, err)
	}
	if c.Seed == 0 {
		c.Seed = st.Seed
	}
	c.next = st.Next
	return nil
}

// save writes StateFile (atomically: a crash leaves the old or the new).
func (c *Central) save() error {
	if c.StateFile == "" {
		return nil
	}
	b, _ := json.Marshal(centralState{Seed: c.Seed, Next: c.next})
	tmp := c.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.StateFile)
}

// Run sends and acknowledges until ctx is done.
func (c *Central) Run(ctx context.Context) {
	if c.Backlog <= 0 {
		c.Backlog = 12
	}
	if c.AckAfter == 0 {
		c.AckAfter = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if err := c.load(); err != nil {
		c.Log.Error("demo central: state unreadable; inventing new people", "err", err)
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	var cursor int64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.topUp(ctx)
		if c.AckAfter > 0 {
			cursor = c.acknowledge(ctx, cursor)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Central) topUp(ctx context.Context) {
	counts, err := c.Store.CountByState(ctx)
	if err != nil {
		return
	}
	waiting := counts[queue.StateValidated] + counts[queue.StatePrepared]
	backlog := max(c.Backlog, 3*len(c.Station.Snapshot().Readers)) // every reader busy
	var docs [][]byte
	first := c.next
	for i := waiting; i < backlog; i++ {
		doc, err := synthetic.Application(c.Seed, c.next, synthetic.Options{IDPrefix: "DEMO"})
		c.next++
		if err != nil {
			c.Log.Error("demo central: inventing an applicant", "err", err)
			return
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return
	}
	// Saved before sending: after a crash the next people are new ones,
	// never other people under ids already sent.
	if err := c.save(); err != nil {
		c.Log.Error("demo central: saving its state", "err", err)
		c.next = first
		return
	}
	res, err := c.Station.Intake(queue.WithActor(ctx, "central"), docs)
	if err != nil {
		c.Log.Warn("demo central: intake refused; will send again", "err", err)
		return
	}
	for _, r := range res {
		if r.Err != nil {
			c.Log.Warn("demo central: application not taken", "application_id", r.ApplicationID, "err", r.Err)
		}
	}
}

// acknowledge acknowledges, up to the newest event older than AckAfter,
// every final state.
func (c *Central) acknowledge(ctx context.Context, cursor int64) int64 {
	evs, err := c.Store.Events(ctx, cursor, 500)
	if err != nil {
		return cursor
	}
	upto := cursor
	for _, e := range evs {
		if time.Since(e.At) < c.AckAfter {
			break
		}
		upto = e.Seq
	}
	if upto > cursor {
		if _, err := c.Store.Ack(queue.WithActor(ctx, "central"), upto); err != nil {
			c.Log.Error("demo central: ack", "err", err)
			return cursor
		}
	}
	return upto
}
