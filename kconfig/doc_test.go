package kconfig

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// renderDocs is the reference table of every config, kept in
// docs/configuration.md; the test fails when the two drift.
func renderDocs() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from `kconfig` (`go test ./kconfig -update`). Broker settings are given with\n")
	b.WriteString("`strata node --set name=value`, in the config file's `set:` map, or in `STRATA_SET`; they can\n")
	b.WriteString("also be changed at run time as cluster-wide dynamic configs (AlterConfigs on the broker resource with an\n")
	b.WriteString("empty name). Topic configs are set with CreateTopics / AlterConfigs / IncrementalAlterConfigs; a topic\n")
	b.WriteString("without an override uses the broker setting of the same row.\n\n")
	b.WriteString("Rows marked *stored* are accepted, validated, stored and reported, but not yet acted on.\n\n")
	b.WriteString("| topic config | broker setting | type | default | valid values | meaning |\n|---|---|---|---|---|---|\n")
	for _, d := range defs {
		valid := ""
		switch {
		case len(d.Enum) > 0:
			valid = strings.Join(d.Enum, ", ")
		case d.Min != 0 || d.Max != 0:
			valid = fmt.Sprintf("%d … %d", d.Min, d.Max)
		}
		doc := d.Doc
		if d.Inert {
			doc = strings.TrimSpace("*stored* " + doc)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s | %s |\n", code(d.Topic), code(d.Broker), typeName(d.Type), d.Default, valid, doc)
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + s + "`"
}

func typeName(t Type) string {
	return map[Type]string{Bool: "bool", String: "string", Int: "int", Short: "short", Long: "long", Double: "double", List: "list"}[t]
}

func TestDocsUpToDate(t *testing.T) {
	path := filepath.Join("..", "docs", "configuration.md")
	want := renderDocs()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/configuration.md is out of date: run go test ./kconfig -update")
	}
}
