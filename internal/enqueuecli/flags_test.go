package enqueuecli

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// Every Spec field has the flag its key names (template_id: --template-id),
// and the flag sets that field and no other.
func TestEverySpecFieldHasItsFlag(t *testing.T) {
	typ := reflect.TypeFor[enqueue.Spec]()
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		name := strings.TrimPrefix(enqueue.Flags.Name(key), "--")
		var s enqueue.Spec
		fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		specFlags(fs, &s)
		if fs.Lookup(name) == nil {
			t.Errorf("field %s (key %s): no flag --%s", typ.Field(i).Name, key, name)
			continue
		}
		val := "7"
		if typ.Field(i).Type.Kind() == reflect.Map {
			val = "SMS=7" // a per-channel setting
		}
		if err := fs.Parse([]string{"--" + name, val}); err != nil {
			t.Fatalf("--%s %s: %v", name, val, err)
		}
		v := reflect.ValueOf(s)
		for j := range typ.NumField() {
			if set := !v.Field(j).IsZero(); set != (j == i) {
				t.Errorf("--%s 7: field %s set=%v, want set only for %s", name, typ.Field(j).Name, set, typ.Field(i).Name)
			}
		}
	}
}

// A flag not given leaves its field empty, so the Spec's default applies
// and a re-run keeps a campaign's auto-pause settings.
func TestFlagsNotGivenLeaveTheSpecEmpty(t *testing.T) {
	var s enqueue.Spec
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	specFlags(fs, &s)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.ValueOf(s).IsZero() {
		t.Fatalf("got %+v, want an empty Spec", s)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, want := range []string{`-ttl duration`, `(default 24h0m0s)`, `(default 2GiB)`, `(default 200)`, `(default 50%)`, `(default UTC)`} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help does not show %q:\n%s", want, help.String())
		}
	}
}
