package station

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cccd-station/station/application/synthetic"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
)

func TestMain(m *testing.M) { pcscdtest.Main(m, 16) }

// rig is a station on a real SQLite file, driving the vpcd readers of the
// test pcscd, with a card feeder of virtual chips in each reader.
type rig struct {
	t       testing.TB
	st      *Station
	store   *queue.Store
	dir     string
	readers []string
	feeders []*vcard.Feeder
	ejected chan vcard.Ejection
	cancel  context.CancelFunc
	done    chan struct{}
}

type rigOptions struct {
	readers  []int                                // vpcd reader indexes of the shared stack
	blank    func(reader, n int) vcard.Persistent // nil: blank short80 chips
	aaBits   int
	attempts int
	// wrapSigner, if set, stands between the station and the DS key.
	wrapSigner func(signer.Signer) signer.Signer
	// pki shapes the TEST PKI (an expired DS certificate); writeFault is
	// the store's fault injection; now the station's clock; signerEvery
	// how often the signer is checked (default 100 ms).
	pki pki.Options
	// cccd, when set, adds the cccd profile with the PKI's TEST SCP03
	// master keys, given to *cccd before any card is made so that blank
	// can make cccd chips holding them.
	cccd        *emrtd.SCP03Master
	writeFault  func(op string) error
	now         func() time.Time
	signerEvery time.Duration
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	stack := pcscdtest.Require(t)
	dir := t.TempDir()
	key, err := queue.GenerateKeyFile(filepath.Join(dir, "data.key"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(dir, "station.db"), key, queue.Options{MaxAttempts: o.attempts, WriteFault: o.writeFault})
	if err != nil {
		t.Fatal(err)
	}
	po := o.pki
	po.Dir = filepath.Join(dir, "pki")
	if err := pki.Init(po); err != nil {
		t.Fatal(err)
	}
	p, err := pki.Load(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	var masters *signer.SCP03Masters
	if o.cccd != nil {
		kvn, enc, mac, dek, err := signer.SCP03FileKeys(p.SCP03.File)
		if err != nil {
			t.Fatal(err)
		}
		if *o.cccd, err = emrtd.NewSCP03Master(kvn, enc, mac, dek); err != nil {
			t.Fatal(err)
		}
		if masters, err = signer.OpenSCP03(p.SCP03); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { masters.Close() })
	}
	sgn, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	var stSigner signer.Signer = sgn
	if o.wrapSigner != nil {
		stSigner = o.wrapSigner(sgn)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, store: store, dir: dir, cancel: cancel, done: make(chan struct{}), ejected: make(chan vcard.Ejection, 1000)}
	use := map[string]bool{}
	var wg sync.WaitGroup
	for _, i := range o.readers {
		name := stack.ReaderName(i)
		use[name] = true
		r.readers = append(r.readers, name)
		n := 0
		blank := func() (vcard.Persistent, error) {
			n++
			if o.blank != nil {
				return o.blank(i, n), nil
			}
			return emrtd.New(emrtd.ModelShort80), nil
		}
		// A bay that puts a card in only once pcscd shows the reader empty:
		// the previous rig's last card may have left a moment ago.
		f := vcard.NewFeeder(vcardtest.Bay(ctx, t, i), blank,
			vcard.SaveDir(filepath.Join(dir, "cards")), vcard.OnEject(func(e vcard.Ejection) { r.ejected <- e }))
		r.feeders = append(r.feeders, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.Run(ctx); err != nil {
				t.Errorf("feeder of reader %d: %v", i, err)
			}
		}()
	}
	aa := o.aaBits
	if aa == 0 {
		aa = 1024
	}
	var products []personalization.Product
	for _, p := range personalization.VirtualProductsOf("jmrtd") {
		if p.AAKey.RSABits() > aa {
			p.AAKey = personalization.KeyRSA1024
		}
		products = append(products, p)
	}
	profiles := []personalization.Profile{personalization.JMRTD{}}
	if masters != nil {
		profiles = append(profiles, personalization.CCCD{Masters: masters})
		products = append(products, personalization.VirtualProductsOf("cccd")...)
	}
	stock, err := personalization.NewStock(products, profiles...)
	if err != nil {
		t.Fatal(err)
	}
	every := o.signerEvery
	if every == 0 {
		every = 100 * time.Millisecond
	}
	st, err := New(Options{
		Store: store, Readers: sys, Signer: stSigner, CSCAs: p.CSCAs, Stock: stock,
		SignerCheckEvery: every, StoreCheckEvery: 100 * time.Millisecond, Now: o.now,
		UseReader: func(n string) bool { return use[n] },
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	go func() {
		defer close(r.done)
		st.Run(ctx)
		wg.Wait()
	}()
	// Wait until the station drives every reader.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if len(st.Snapshot().Readers) == len(o.readers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readers not up: %+v", st.Snapshot())
		}
	}
	t.Cleanup(func() {
		r.stop()
		sys.Close()
		sgn.Close()
		store.Close()
	})
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// submit sends n invented applicants and returns their ids.
func (r *rig) submit(seed int64, first, n int) []string {
	r.t.Helper()
	var docs [][]byte
	for i := first; i < first+n; i++ {
		d, err := synthetic.Application(seed, i, synthetic.Options{})
		if err != nil {
			r.t.Fatal(err)
		}
		docs = append(docs, d)
	}
	res, err := r.st.Intake(context.Background(), docs)
	if err != nil {
		r.t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, x := range res {
		if x.Err != nil || x.State != queue.StateValidated {
			r.t.Fatalf("intake %d: %+v", i, x)
		}
		ids[i] = x.ApplicationID
	}
	return ids
}

// waitFinal waits until every application is in a final or attention state.
func (r *rig) waitFinal(ids []string, timeout time.Duration) map[string]*queue.Status {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	out := map[string]*queue.Status{}
	pending := append([]string(nil), ids...)
	for {
		var still []string
		for _, id := range pending {
			s, err := r.store.Status(context.Background(), id)
			if err != nil {
				r.t.Fatal(err)
			}
			out[id] = s
			if !s.State.Final() && s.State != queue.StateNeedsAttention {
				still = append(still, id)
			}
		}
		if pending = still; len(pending) == 0 {
			return out
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d applications not finished after %v: %+v", len(pending), len(ids), timeout, r.st.Snapshot())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEvents: the feed is gap-free and each application's events are in
// the order of the state machine.
func (r *rig) checkEvents() []queue.Event {
	r.t.Helper()
	evs, err := r.store.Events(context.Background(), 0, 100000)
	if err != nil {
		r.t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			r.t.Fatalf("event feed has a gap: position %d has cursor %d", i+1, e.Seq)
		}
	}
	return evs
}

func TestBatchIsIssuedThroughPCSCD(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{0, 1, 2}})
	ids := r.submit(1, 0, 9)
	final := r.waitFinal(ids, 90*time.Second)
	serials := map[string]bool{}
	for id, s := range final {
		if s.State != queue.StateIssued {
			t.Fatalf("%s: %s (%s)", id, s.State, s.Reason)
		}
		verified := 0
		for _, c := range s.Cards {
			if c.State == queue.CardVerified {
				verified++
				serials[c.Serial] = true
			}
		}
		if verified != 1 {
			t.Errorf("%s has %d verified cards", id, verified)
		}
	}
	r.checkEvents()
	// Every verified card was handed out and saved by the feeder, locked.
	deadline := time.Now().Add(10 * time.Second)
	for len(serials) > 0 && time.Now().Before(deadline) {
		select {
		case e := <-r.ejected:
			delete(serials, e.Serial)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(serials) > 0 {
		t.Errorf("verified cards never handed out: %v", serials)
	}
}

func TestCardPulledMidWriteIsSpoiledAndReissued(t *testing.T) {
	// The first card in the reader is pulled out after 30 APDUs.
	r := newRig(t, rigOptions{readers: []int{3}, blank: func(_, n int) vcard.Persistent {
		if n == 1 {
			return emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{RemoveAfter: 30}))
		}
		return emrtd.New(emrtd.ModelShort80)
	}})
	ids := r.submit(2, 0, 1)
	s := r.waitFinal(ids, 60*time.Second)[ids[0]]
	if s.State != queue.StateIssued || s.Attempts != 2 || len(s.Cards) != 2 {
		t.Fatalf("status %+v", s)
	}
	if s.Cards[0].State != queue.CardSpoiled || s.Cards[0].Serial == "" || s.Cards[1].State != queue.CardVerified {
		t.Errorf("cards %+v", s.Cards)
	}
	spoiled, err := r.store.Cards(context.Background(), queue.CardFilter{State: queue.CardSpoiled})
	if err != nil || len(spoiled) != 1 || spoiled[0].Serial != s.Cards[0].Serial {
		t.Errorf("spoiled cards %+v %v", spoiled, err)
	}
	r.checkEvents()
}

func TestRetriesExhaustedNeedAttention(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{4}, attempts: 2, blank: func(_, n int) vcard.Persistent {
		return emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.AnyFile(5)}))
	}})
	ids := r.submit(3, 0, 1)
	s := r.waitFinal(ids, 60*time.Second)[ids[0]]
	if s.State != queue.StateNeedsAttention || len(s.Cards) != 2 {
		t.Fatalf("status %+v", s)
	}
	for _, c := range s.Cards {
		if c.State != queue.CardSpoiled {
			t.Errorf("card %+v", c)
		}
	}
}

func TestCancelledBeforePersoIsNeverIssued(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{5}})
	if err := r.st.Pause(r.readers[0]); err != nil {
		t.Fatal(err)
	}
	ids := r.submit(4, 0, 2)
	if st, err := r.store.Cancel(queue.WithActor(context.Background(), "central"), ids[0]); err != nil || st != queue.StateCancelled {
		t.Fatalf("cancel: %v %v", st, err)
	}
	r.st.Resume(r.readers[0])
	final := r.waitFinal(ids, 60*time.Second)
	if final[ids[0]].State != queue.StateCancelled || len(final[ids[0]].Cards) != 0 {
		t.Errorf("cancelled: %+v", final[ids[0]])
	}
	if final[ids[1]].State != queue.StateIssued {
		t.Errorf("other: %+v", final[ids[1]])
	}
	if _, err := r.store.Cancel(context.Background(), ids[1]); err == nil {
		t.Error("an issued application was cancelled")
	}
}

func TestPausedReaderTakesNoWork(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{6}})
	if err := r.st.Pause(r.readers[0]); err != nil {
		t.Fatal(err)
	}
	ids := r.submit(5, 0, 1)
	time.Sleep(1500 * time.Millisecond)
	s, _ := r.store.Status(context.Background(), ids[0])
	if s.State == queue.StateIssued || len(s.Cards) != 0 {
		t.Fatalf("a paused reader took work: %+v", s)
	}
	snap := r.st.Snapshot()
	if len(snap.Readers) != 1 || snap.Readers[0].State != ReaderPaused || !snap.Readers[0].Paused {
		t.Errorf("snapshot %+v", snap.Readers)
	}
	if err := r.st.Pause("no such reader"); err == nil {
		t.Error("pausing an unknown reader")
	}
	r.st.Resume(r.readers[0])
	r.waitFinal(ids, 60*time.Second)
}

// pulledToken is a DS token that can be pulled out.
type pulledToken struct {
	signer.Signer
	out atomic.Bool
}

func (p *pulledToken) Check(ctx context.Context) error {
	if p.out.Load() {
		return signer.ErrTokenAbsent
	}
	return p.Signer.Check(ctx)
}

func (p *pulledToken) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if p.out.Load() {
		return nil, signer.ErrTokenAbsent
	}
	return p.Signer.Sign(r, d, o)
}

// With the Document Signer token out, issuance pauses: nothing is prepared
// or claimed, the snapshot says why; with it back, work resumes.
func TestTokenPulledOutPausesIssuance(t *testing.T) {
	tok := &pulledToken{}
	r := newRig(t, rigOptions{readers: []int{7}, wrapSigner: func(s signer.Signer) signer.Signer {
		tok.Signer = s
		return tok
	}})
	tok.out.Store(true)
	for deadline := time.Now().Add(5 * time.Second); r.st.Snapshot().Signer.OK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the station did not notice the token was pulled out")
		}
	}
	ids := r.submit(9, 0, 2)
	time.Sleep(1500 * time.Millisecond)
	for _, id := range ids {
		s, _ := r.store.Status(context.Background(), id)
		if s.State != queue.StateValidated || len(s.Cards) != 0 {
			t.Fatalf("work went on without the signer: %+v", s)
		}
	}
	if snap := r.st.Snapshot(); snap.Signer.OK || snap.Signer.Error == "" {
		t.Errorf("snapshot signer %+v", snap.Signer)
	}
	tok.out.Store(false)
	final := r.waitFinal(ids, 60*time.Second)
	for id, s := range final {
		if s.State != queue.StateIssued {
			t.Errorf("%s: %s", id, s.State)
		}
	}
}

func TestDuplicateAndConflictingIntake(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{6}})
	r.st.Pause(r.readers[0])
	doc, _ := synthetic.Application(11, 0, synthetic.Options{})
	first, err := r.st.Intake(context.Background(), [][]byte{doc})
	if err != nil || !first[0].Created || first[0].State != queue.StateValidated {
		t.Fatalf("first: %+v %v", first, err)
	}
	// The same content again, spaced differently: the current state, nothing new.
	respaced := append([]byte(" "), doc...)
	again, _ := r.st.Intake(context.Background(), [][]byte{respaced})
	if again[0].Created || again[0].Err != nil || again[0].State != queue.StateValidated {
		t.Errorf("repeat: %+v", again[0])
	}
	// Other content under the same id: a conflict, and the stored one kept.
	var m map[string]any
	json.Unmarshal(doc, &m)
	m["religion"] = "Phật giáo"
	other, _ := json.Marshal(m)
	conflict, _ := r.st.Intake(context.Background(), [][]byte{other})
	if !errors.Is(conflict[0].Err, queue.ErrConflict) {
		t.Errorf("conflict: %+v", conflict[0])
	}
	// Invalid data with a usable id: stored as rejected, with the reasons.
	m["personal_id"] = "12345"
	m["application_id"] = "BAD-1"
	bad, _ := json.Marshal(m)
	rej, _ := r.st.Intake(context.Background(), [][]byte{bad, []byte(`{"no":"id"}`)})
	if rej[0].State != queue.StateRejected || len(rej[0].Problems) == 0 || rej[0].Problems[0].Field != "personal_id" {
		t.Errorf("rejected: %+v", rej[0])
	}
	if !errors.Is(rej[1].Err, ErrUnidentifiable) {
		t.Errorf("no id: %+v", rej[1])
	}
	// Intake made exactly two events: the first application validated, the
	// invalid one rejected; the repeat and the conflict made none. (The
	// preparation may have added "prepared" meanwhile.)
	var intakeEvents []string
	for _, e := range r.checkEvents() {
		if e.State == queue.StateValidated || e.State == queue.StateRejected {
			intakeEvents = append(intakeEvents, e.ApplicationID+" "+string(e.State))
		}
	}
	want := []string{first[0].ApplicationID + " validated", "BAD-1 rejected"}
	if fmt.Sprint(intakeEvents) != fmt.Sprint(want) {
		t.Errorf("intake events %v, want %v", intakeEvents, want)
	}
}
