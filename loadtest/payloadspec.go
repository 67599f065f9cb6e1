package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// maxPayloadFileBytes bounds what payload files may hold in total: they
// are read into memory once and shared by every producer.
const maxPayloadFileBytes = 1 << 30

// ErrPayloadFiles wraps every failure to read the payload files.
var ErrPayloadFiles = errors.New("payload files")

// Payload says what record values hold. In YAML it is either a kind
// ("payload: json") or a mapping with the kind and its settings:
//
//	payload:
//	  kind: random
//	  compressibility: 0.5
//
//	payload:
//	  kind: file
//	  files: [samples/*.json, big.bin]
type Payload struct {
	// Kind is random (fresh pseudo-random bytes for every record), json
	// (realistic events, compressible like real ones) or file (the
	// contents of Files).
	Kind string `yaml:"kind" json:"kind"`
	// Compressibility, for kind random, is the fraction of each value that
	// is low-entropy filler: the last round(record_size × compressibility)
	// bytes repeat a fixed ASCII text and the rest are random. 0 (the
	// default) is fully random; a codec shrinks a batch to about
	// 1 − compressibility of its size.
	Compressibility float64 `yaml:"compressibility" json:"compressibility"`
	// Files, for kind file, are paths or glob patterns; each matching file
	// is one record value, and each record takes one of them at random.
	Files []string `yaml:"files" json:"files,omitempty"`
}

// payloadFields is Payload without its methods, for decoding the mapping.
type payloadFields Payload

// UnmarshalYAML accepts a kind or a mapping; a mapping updates only the
// fields it names.
func (p *Payload) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		p.Kind = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: payload is a kind (random, json, file) or a mapping with kind, compressibility, files", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "kind", "compressibility", "files":
		default:
			return fmt.Errorf("line %d: payload has no field %q (kind, compressibility, files)", k.Line, k.Value)
		}
	}
	f := payloadFields(*p)
	if err := n.Decode(&f); err != nil {
		return err
	}
	*p = Payload(f)
	return nil
}

// MarshalYAML writes the bare kind when nothing else is set.
func (p Payload) MarshalYAML() (any, error) {
	if p.Compressibility == 0 && len(p.Files) == 0 {
		return p.Kind, nil
	}
	return payloadFields(p), nil
}

// UnmarshalJSON also reads the bare kind string of older results.json.
func (p *Payload) UnmarshalJSON(b []byte) error {
	var kind string
	if err := json.Unmarshal(b, &kind); err == nil {
		*p = Payload{Kind: kind}
		return nil
	}
	var f payloadFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*p = Payload(f)
	return nil
}

func (p *Payload) validate(recordSize ByteSize) error {
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if p.Compressibility != 0 && p.Kind != PayloadRandom {
		return bad("payload.compressibility", "only applies to payload kind random (kind is %q)", p.Kind)
	}
	if len(p.Files) > 0 && p.Kind != PayloadFile {
		return bad("payload.files", "only applies to payload kind file (kind is %q)", p.Kind)
	}
	switch p.Kind {
	case PayloadRandom:
		if p.Compressibility < 0 || p.Compressibility > 0.99 || math.IsNaN(p.Compressibility) {
			return bad("payload.compressibility", "must be between 0 (random) and 0.99 (got %v)", p.Compressibility)
		}
	case PayloadJSON:
		if recordSize < minJSONSize {
			return bad("record_size", "a json payload needs at least %d bytes (got %d)", minJSONSize, int64(recordSize))
		}
	case PayloadFile:
		if len(p.Files) == 0 {
			return bad("payload.files", "payload kind file needs at least one file or glob pattern")
		}
	default:
		return bad("payload", "kind must be random, json or file (got %q)", p.Kind)
	}
	return nil
}

// loadPayloadFiles reads the files of a file-kind payload, checks each
// fits a batch, and sets w.RecordSize to their mean size. It returns nil
// for other kinds.
func loadPayloadFiles(w *Workload) ([][]byte, error) {
	if w.Payload.Kind != PayloadFile {
		return nil, nil
	}
	var paths []string
	seen := make(map[string]bool)
	for _, pat := range w.Payload.Files {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("%w: pattern %q: %w", ErrPayloadFiles, pat, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%w: %q matches no file", ErrPayloadFiles, pat)
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				paths = append(paths, m)
			}
		}
	}
	var out [][]byte
	var total int64
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPayloadFiles, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%w: %s is a directory (use a pattern such as %s)", ErrPayloadFiles, path, filepath.Join(path, "*"))
		}
		if size := st.Size(); size+recordOverhead > int64(w.BatchMaxBytes) {
			return nil, fmt.Errorf("%w: %s (%d bytes) does not fit batch_max_bytes %d", ErrPayloadFiles, path, size, int64(w.BatchMaxBytes))
		}
		if total += st.Size(); total > maxPayloadFileBytes {
			return nil, fmt.Errorf("%w: more than %d bytes in total", ErrPayloadFiles, maxPayloadFileBytes)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPayloadFiles, err)
		}
		out = append(out, b)
	}
	w.RecordSize = ByteSize(total / int64(len(out)))
	if w.Rate.Bytes && w.RecordSize == 0 {
		return nil, fmt.Errorf("%w: a bytes/s rate needs files that are not all empty", ErrPayloadFiles)
	}
	return out, nil
}
