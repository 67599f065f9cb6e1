package quota

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// The quota keys a user / client-id entity takes, as Kafka names them.
const (
	ProducerByteRate  = "producer_byte_rate"
	ConsumerByteRate  = "consumer_byte_rate"
	RequestPercentage = "request_percentage"
)

// Keys are the supported quota keys.
var Keys = []string{ProducerByteRate, ConsumerByteRate, RequestPercentage}

// The entity types.
const (
	TypeUser     = "user"
	TypeClientID = "client-id"
)

// Errors of entity and value validation.
var (
	ErrInvalidEntity = errors.New("quota: invalid entity")
	ErrInvalidKey    = errors.New("quota: invalid key")
	ErrInvalidValue  = errors.New("quota: invalid value")
)

// Part is one component of an entity: absent, the default (Kafka's null
// name), or a name (which may be empty: a client id of "").
type Part struct {
	Set     bool
	Default bool
	Name    string
}

// Named is the part for name; DefaultPart the default.
func Named(name string) Part { return Part{Set: true, Name: name} }

// DefaultPart is the default part (<default> in Kafka's tools).
var DefaultPart = Part{Set: true, Default: true}

func (p Part) String() string {
	switch {
	case !p.Set:
		return ""
	case p.Default:
		return "<default>"
	}
	return p.Name
}

// Entity is what a quota is set on: a user, a client id, or both, each
// named or the default.
type Entity struct {
	User, ClientID Part
}

// Validate refuses an entity with no component.
func (e Entity) Validate() error {
	if !e.User.Set && !e.ClientID.Set {
		return fmt.Errorf("%w: no user or client-id component", ErrInvalidEntity)
	}
	return nil
}

// String is the entity as Kafka's tools print it: user=alice,client-id=<default>.
func (e Entity) String() string {
	var parts []string
	if e.User.Set {
		parts = append(parts, TypeUser+"="+e.User.String())
	}
	if e.ClientID.Set {
		parts = append(parts, TypeClientID+"="+e.ClientID.String())
	}
	return strings.Join(parts, ",")
}

// ValidateValue checks a value for key: a byte rate is a positive whole
// number, a request percentage a positive number.
func ValidateValue(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return fmt.Errorf("%w: %s=%v must be positive", ErrInvalidValue, key, v)
	}
	switch key {
	case ProducerByteRate, ConsumerByteRate:
		if v != math.Trunc(v) || v > math.MaxInt64 {
			return fmt.Errorf("%w: %s=%v must be a whole number of bytes per second", ErrInvalidValue, key, v)
		}
	case RequestPercentage:
	default:
		return fmt.Errorf("%w: %q (supported: %s)", ErrInvalidKey, key, strings.Join(Keys, ", "))
	}
	return nil
}

// Set is every configured quota; the zero value (or nil) has none.
// A Set is immutable once built: the node swaps in a new one when the
// metadata changes.
type Set struct {
	byEntity map[Entity]map[string]float64
}

// NewSet builds a Set from entity → key → value.
func NewSet(m map[Entity]map[string]float64) *Set {
	s := &Set{byEntity: make(map[Entity]map[string]float64, len(m))}
	for e, kv := range m {
		if len(kv) == 0 {
			continue
		}
		c := make(map[string]float64, len(kv))
		for k, v := range kv {
			c[k] = v
		}
		s.byEntity[e] = c
	}
	return s
}

// Empty reports whether no quota is set: then nothing needs recording.
func (s *Set) Empty() bool { return s == nil || len(s.byEntity) == 0 }

// Entries lists the entities and their values, sorted by entity.
func (s *Set) Entries() []Entry {
	if s == nil {
		return nil
	}
	out := make([]Entry, 0, len(s.byEntity))
	for e, kv := range s.byEntity {
		out = append(out, Entry{Entity: e, Values: kv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Entity.String() < out[j].Entity.String() })
	return out
}

// Entry is one entity's quotas.
type Entry struct {
	Entity Entity
	Values map[string]float64
}

// Sensor names the usage a quota is measured on. A quota set on a named
// user is shared by all that user's client ids (ClientID empty); one set
// on the default user is measured per user; and so on, as Kafka tags its
// quota metrics.
type Sensor struct {
	Key            string
	User, ClientID string
	HasUser        bool
	HasClientID    bool
}

// Resolve finds the quota of key for a connection of user with clientID,
// by Kafka's precedence: user+client-id, user+default client-id, user,
// default user+client-id, default user+default client-id, default user,
// client-id, default client-id. ok is false when none applies.
func (s *Set) Resolve(key, user, clientID string) (bound float64, sensor Sensor, ok bool) {
	if s.Empty() {
		return 0, Sensor{}, false
	}
	u, du, c, dc := Named(user), DefaultPart, Named(clientID), DefaultPart
	for _, e := range [...]Entity{{u, c}, {u, dc}, {User: u}, {du, c}, {du, dc}, {User: du}, {ClientID: c}, {ClientID: dc}} {
		if v, found := s.byEntity[e][key]; found {
			sn := Sensor{Key: key, HasUser: e.User.Set, HasClientID: e.ClientID.Set}
			if e.User.Set {
				sn.User = user
			}
			if e.ClientID.Set {
				sn.ClientID = clientID
			}
			return v, sn, true
		}
	}
	return 0, Sensor{}, false
}

// Filter is one component of a DescribeClientQuotas filter.
type Filter struct {
	Type string
	// Match is 0 (exact Name), 1 (the default), 2 (any, default included).
	Match int8
	Name  string
}

// Describe returns the entries matching every filter component; with
// strict, entities with other components than the filtered ones are left
// out (Kafka's DescribeClientQuotas semantics).
func (s *Set) Describe(filters []Filter, strict bool) ([]Entry, error) {
	want := map[string]Filter{}
	for _, f := range filters {
		if f.Type != TypeUser && f.Type != TypeClientID {
			return nil, fmt.Errorf("%w: entity type %q (supported: user, client-id)", ErrInvalidEntity, f.Type)
		}
		if _, dup := want[f.Type]; dup {
			return nil, fmt.Errorf("%w: entity type %s filtered twice", ErrInvalidEntity, f.Type)
		}
		if f.Match < 0 || f.Match > 2 {
			return nil, fmt.Errorf("%w: match type %d", ErrInvalidEntity, f.Match)
		}
		want[f.Type] = f
	}
	matches := func(p Part, typ string) bool {
		f, ok := want[typ]
		if !ok {
			return !strict || !p.Set
		}
		if !p.Set {
			return false
		}
		switch f.Match {
		case 0:
			return !p.Default && p.Name == f.Name
		case 1:
			return p.Default
		}
		return true
	}
	var out []Entry
	for _, e := range s.Entries() {
		if matches(e.Entity.User, TypeUser) && matches(e.Entity.ClientID, TypeClientID) {
			out = append(out, e)
		}
	}
	return out, nil
}
