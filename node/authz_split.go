package node

import (
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Most Kafka APIs act on a list of topics (or config resources): the
// request's Topics each name a topic and its partitions, and the response's
// Topics answer them. splitEntries gives the authorizer one way to cut the
// denied entries out of any such request and answer them with an error,
// so handlers never see what they may not act on. It works on the kmsg
// structs by field name (Topics/Resources, Topic/Name/ResourceName,
// Partitions, Partition, ErrorCode), which every such message shares.

// denied is one request entry cut out: its name, its partitions (nil for
// a topic-level entry) and the error to answer it with.
type denied struct {
	name       string
	partitions []int32
	code       int16
	extra      map[string]any // fields to copy into the answer (ResourceType)
}

// splitEntries removes from the slice field list of req every entry whose
// name keep refuses, and returns them.
func splitEntries(req kmsg.Request, list string, keep func(name string) (ok bool, code int16)) []denied {
	v := reflect.ValueOf(req).Elem().FieldByName(list)
	if !v.IsValid() || v.Kind() != reflect.Slice {
		return nil
	}
	// First pass without allocating: usually nothing is denied.
	var cut []int
	var codes []int16
	for i := 0; i < v.Len(); i++ {
		if ok, code := keep(entryName(v.Index(i))); !ok {
			cut, codes = append(cut, i), append(codes, code)
		}
	}
	if len(cut) == 0 {
		return nil
	}
	out := make([]denied, 0, len(cut))
	kept := reflect.MakeSlice(v.Type(), 0, v.Len()-len(cut))
	for i, j := 0, 0; i < v.Len(); i++ {
		e := v.Index(i)
		if j < len(cut) && cut[j] == i {
			d := denied{name: entryName(e), partitions: entryPartitions(e), code: codes[j]}
			if rt := fieldOf(e, "ResourceType"); rt.IsValid() {
				d.extra = map[string]any{"ResourceType": rt.Interface()}
			}
			out = append(out, d)
			j++
			continue
		}
		kept = reflect.Append(kept, e)
	}
	v.Set(kept)
	return out
}

// answerDenied appends an answer for each denied entry to the response's
// slice field list: the name, each partition with the error code (or the
// code on the entry itself when its answer has no partitions).
func answerDenied(resp kmsg.Response, list string, ds []denied) {
	v := reflect.ValueOf(resp).Elem().FieldByName(list)
	if !v.IsValid() || v.Kind() != reflect.Slice {
		return
	}
	et := v.Type().Elem()
	for _, d := range ds {
		e := newDefault(et)
		setName(e, d.name)
		for k, x := range d.extra {
			if f := e.FieldByName(k); f.IsValid() && f.CanSet() {
				f.Set(reflect.ValueOf(x))
			}
		}
		parts := e.FieldByName("Partitions")
		if parts.IsValid() && parts.Kind() == reflect.Slice && parts.Type().Elem().Kind() == reflect.Struct {
			for _, p := range d.partitions {
				pe := newDefault(parts.Type().Elem())
				pe.FieldByName("Partition").SetInt(int64(p))
				if ec := pe.FieldByName("ErrorCode"); ec.IsValid() {
					ec.SetInt(int64(d.code))
				}
				parts.Set(reflect.Append(parts, pe))
			}
		}
		if ec := e.FieldByName("ErrorCode"); ec.IsValid() {
			ec.SetInt(int64(d.code))
		}
		v.Set(reflect.Append(v, e))
	}
}

// newDefault makes a struct of type t with kmsg's defaults applied.
func newDefault(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(interface{ Default() }); ok {
		d.Default()
	}
	return p.Elem()
}

func entryName(e reflect.Value) string {
	if e.Kind() == reflect.String {
		return e.String()
	}
	if e.Kind() != reflect.Struct {
		return ""
	}
	for _, f := range []string{"Topic", "Name", "ResourceName", "Group"} {
		v := e.FieldByName(f)
		if !v.IsValid() {
			continue
		}
		switch v.Kind() {
		case reflect.String:
			return v.String()
		case reflect.Pointer:
			if !v.IsNil() && v.Elem().Kind() == reflect.String {
				return v.Elem().String()
			}
			return ""
		}
	}
	return ""
}

func setName(e reflect.Value, name string) {
	for _, f := range []string{"Topic", "Name", "ResourceName", "Group"} {
		v := e.FieldByName(f)
		if !v.IsValid() || !v.CanSet() {
			continue
		}
		switch v.Kind() {
		case reflect.String:
			v.SetString(name)
			return
		case reflect.Pointer:
			if v.Type().Elem().Kind() == reflect.String {
				n := name
				v.Set(reflect.ValueOf(&n))
				return
			}
		}
	}
}

func entryPartitions(e reflect.Value) []int32 {
	if e.Kind() != reflect.Struct {
		return nil
	}
	v := e.FieldByName("Partitions")
	if !v.IsValid() || v.Kind() != reflect.Slice {
		return nil
	}
	out := make([]int32, 0, v.Len())
	for i := 0; i < v.Len(); i++ {
		p := v.Index(i)
		switch p.Kind() {
		case reflect.Int32:
			out = append(out, int32(p.Int()))
		case reflect.Struct:
			if f := p.FieldByName("Partition"); f.IsValid() {
				out = append(out, int32(f.Int()))
			}
		}
	}
	return out
}

// setTopError sets a response's top-level ErrorCode, when it has one.
func setTopError(resp kmsg.Response, code int16) bool {
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return false
	}
	f.SetInt(int64(code))
	return true
}

// fieldOf is e's field name, or the zero Value when e is not a struct.
func fieldOf(e reflect.Value, name string) reflect.Value {
	if e.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return e.FieldByName(name)
}
