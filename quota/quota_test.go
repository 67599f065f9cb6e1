package quota

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestResolvePrecedence(t *testing.T) {
	u, c := Named("alice"), Named("app")
	levels := []Entity{{u, c}, {u, DefaultPart}, {User: u}, {DefaultPart, c}, {DefaultPart, DefaultPart}, {User: DefaultPart}, {ClientID: c}, {ClientID: DefaultPart}}
	// With every level set, each is chosen once the ones above it go.
	for top := range levels {
		m := map[Entity]map[string]float64{}
		for i, e := range levels[top:] {
			m[e] = map[string]float64{ProducerByteRate: float64(100 + top + i)}
		}
		bound, sn, ok := NewSet(m).Resolve(ProducerByteRate, "alice", "app")
		if !ok || bound != float64(100+top) {
			t.Fatalf("level %d (%s): bound %v ok %v", top, levels[top], bound, ok)
		}
		e := levels[top]
		if sn.HasUser != e.User.Set || sn.HasClientID != e.ClientID.Set ||
			(e.User.Set && sn.User != "alice") || (!e.User.Set && sn.User != "") ||
			(e.ClientID.Set && sn.ClientID != "app") || (!e.ClientID.Set && sn.ClientID != "") {
			t.Fatalf("level %d (%s): sensor %+v", top, e, sn)
		}
	}
	set := NewSet(map[Entity]map[string]float64{{User: Named("bob")}: {ConsumerByteRate: 5}})
	if _, _, ok := set.Resolve(ProducerByteRate, "bob", "x"); ok {
		t.Fatal("a quota of another key applied")
	}
	if _, _, ok := set.Resolve(ConsumerByteRate, "alice", "x"); ok {
		t.Fatal("bob's quota applied to alice")
	}
	// A named user's quota is shared by its clients; the default user's
	// is measured per user.
	_, s1, _ := set.Resolve(ConsumerByteRate, "bob", "a")
	_, s2, _ := set.Resolve(ConsumerByteRate, "bob", "b")
	if s1 != s2 {
		t.Fatalf("bob's clients measured apart: %+v %+v", s1, s2)
	}
	def := NewSet(map[Entity]map[string]float64{{User: DefaultPart}: {ConsumerByteRate: 5}})
	_, d1, _ := def.Resolve(ConsumerByteRate, "bob", "a")
	_, d2, _ := def.Resolve(ConsumerByteRate, "carol", "a")
	if d1 == d2 {
		t.Fatal("the default user's quota shared between users")
	}
	if !(*Set)(nil).Empty() || !NewSet(nil).Empty() {
		t.Fatal("an empty set is not empty")
	}
}

func TestValidate(t *testing.T) {
	if err := (Entity{}).Validate(); !errors.Is(err, ErrInvalidEntity) {
		t.Fatalf("empty entity: %v", err)
	}
	for _, c := range []struct {
		key string
		v   float64
		err error
	}{
		{ProducerByteRate, 1024, nil}, {RequestPercentage, 12.5, nil},
		{ProducerByteRate, 1.5, ErrInvalidValue}, {ConsumerByteRate, 0, ErrInvalidValue}, {RequestPercentage, -1, ErrInvalidValue},
		{"controller_mutation_rate", 1, ErrInvalidKey}, {"nonsense", 1, ErrInvalidKey},
	} {
		if err := ValidateValue(c.key, c.v); !errors.Is(err, c.err) {
			t.Errorf("%s=%v: %v, want %v", c.key, c.v, err, c.err)
		}
	}
}

func TestDescribeFilters(t *testing.T) {
	set := NewSet(map[Entity]map[string]float64{
		{User: Named("alice")}:                         {ProducerByteRate: 1},
		{User: Named("alice"), ClientID: Named("app")}: {ProducerByteRate: 2},
		{User: DefaultPart}:                            {ProducerByteRate: 3},
		{ClientID: Named("app")}:                       {ConsumerByteRate: 4},
	})
	count := func(f []Filter, strict bool) int {
		t.Helper()
		out, err := set.Describe(f, strict)
		if err != nil {
			t.Fatal(err)
		}
		return len(out)
	}
	for _, c := range []struct {
		f      []Filter
		strict bool
		want   int
	}{
		{nil, false, 4},
		{nil, true, 0},
		{[]Filter{{Type: TypeUser, Match: 0, Name: "alice"}}, false, 2},
		{[]Filter{{Type: TypeUser, Match: 0, Name: "alice"}}, true, 1},
		{[]Filter{{Type: TypeUser, Match: 1}}, false, 1},
		{[]Filter{{Type: TypeUser, Match: 2}}, false, 3},
		{[]Filter{{Type: TypeUser, Match: 2}}, true, 2},
		{[]Filter{{Type: TypeClientID, Match: 0, Name: "app"}}, true, 1},
		{[]Filter{{Type: TypeUser, Match: 2}, {Type: TypeClientID, Match: 2}}, true, 1},
	} {
		if got := count(c.f, c.strict); got != c.want {
			t.Errorf("%+v strict=%v: %d entries, want %d", c.f, c.strict, got, c.want)
		}
	}
	if _, err := set.Describe([]Filter{{Type: "ip", Match: 2}}, false); !errors.Is(err, ErrInvalidEntity) {
		t.Fatalf("ip filter: %v", err)
	}
}

// TestThrottleConverges simulates a producer that sends as fast as it is
// allowed (waiting out each throttle) and checks that over a minute its
// rate comes to the quota, for several request sizes and windows.
func TestThrottleConverges(t *testing.T) {
	for _, c := range []struct {
		w     Window
		bound float64
		req   float64
		slack float64 // how far over the quota the minute may come
	}{
		{DefaultWindow, 100 << 10, 16 << 10, 1.2},
		{DefaultWindow, 1 << 20, 256 << 10, 1.2},
		{Window{Samples: 2, Size: time.Second}, 1 << 20, 64 << 10, 1.2},
		// Requests as large as the whole sampled span's allowance: the
		// expiring samples let bursts through, but the rate stays bounded.
		{DefaultWindow, 100 << 10, 1 << 20, 1.6},
	} {
		set := NewSet(map[Entity]map[string]float64{{ClientID: Named("c")}: {ProducerByteRate: c.bound}})
		m := NewManager(c.w)
		start := time.Unix(1000, 0)
		now, sent := start, 0.0
		for now.Sub(start) < time.Minute {
			d := m.Record(set, ProducerByteRate, "u", "c", c.req, now)
			sent += c.req
			now = now.Add(time.Millisecond + d) // 1 ms per request, then the throttle
			if d > time.Duration(c.w.Samples)*c.w.Size {
				t.Fatalf("throttle %v beyond the sampled span", d)
			}
		}
		got := sent / now.Sub(start).Seconds()
		t.Logf("quota %.0f B/s, requests of %.0f B: %.0f B/s over a minute (%.2f×)", c.bound, c.req, got, got/c.bound)
		if got > c.bound*c.slack || got < c.bound*0.8 {
			t.Errorf("%+v: %.0f B/s over a minute, quota %.0f", c, got, c.bound)
		}
	}
}

func TestRecordIfUnder(t *testing.T) {
	set := NewSet(map[Entity]map[string]float64{{ClientID: DefaultPart}: {ConsumerByteRate: 1000}})
	m := NewManager(Window{Samples: 2, Size: time.Second})
	now := time.Unix(1000, 0)
	if d := m.RecordIfUnder(set, ConsumerByteRate, "", "c", 500, now); d != 0 {
		t.Fatalf("within the quota: throttled %v", d)
	}
	d := m.RecordIfUnder(set, ConsumerByteRate, "", "c", 1e6, now)
	if d <= 0 {
		t.Fatal("a response far over the quota was not throttled")
	}
	// The refused bytes did not count: a small response still fits.
	if d := m.RecordIfUnder(set, ConsumerByteRate, "", "c", 500, now.Add(10*time.Millisecond)); d != 0 {
		t.Fatalf("refused bytes counted: throttled %v", d)
	}
	// Another client id has its own sensor under the default.
	if d := m.RecordIfUnder(set, ConsumerByteRate, "", "other", 900, now); d != 0 {
		t.Fatalf("clients share the default's sensor: %v", d)
	}
	if m.Sensors() != 2 {
		t.Fatalf("%d sensors", m.Sensors())
	}
	// Idle sensors go.
	m.Record(set, ConsumerByteRate, "", "late", 1, now.Add(SensorIdle+2*time.Minute))
	if m.Sensors() != 1 {
		t.Fatalf("%d sensors after the others idled", m.Sensors())
	}
	if d := m.Record(nil, ConsumerByteRate, "", "c", 1e9, now); d != 0 {
		t.Fatal("no quotas set, yet throttled")
	}
}

// BenchmarkRecord is the cost a quota adds to a request: resolving the
// entity among a thousand and recording against its sensor.
func BenchmarkRecord(b *testing.B) {
	m := map[Entity]map[string]float64{}
	for i := range 1000 {
		m[Entity{User: Named(fmt.Sprint("user-", i))}] = map[string]float64{ProducerByteRate: 1 << 30}
	}
	set := NewSet(m)
	mgr := NewManager(DefaultWindow)
	now := time.Unix(1000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		mgr.Record(set, ProducerByteRate, "user-500", "app", 16384, now.Add(time.Duration(i)*time.Microsecond))
	}
}
