package enqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// specFields maps each Spec key to its field's index.
var specFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Spec]()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[key] = i
	}
	return m
}()

// DecodeSpecJSON reads one JSON object into a Spec. Unknown keys and values
// of the wrong type (a number for "ttl": durations and sizes are strings)
// are refused, every one of them as a *FieldError in Errors naming its key.
// The Spec is not resolved: call Resolve.
func DecodeSpecJSON(r io.Reader) (Spec, error) {
	dec := json.NewDecoder(r)
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return Spec{}, fmt.Errorf("want one JSON object: %w", err)
	}
	if obj == nil {
		return Spec{}, errors.New("want one JSON object, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Spec{}, errors.New("want one JSON object, got more after it")
	}
	var s Spec
	var c check
	v := reflect.ValueOf(&s).Elem()
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// In field order, then the unknown keys sorted.
	slices.SortFunc(keys, func(a, b string) int {
		ia, oka := specFields[a]
		ib, okb := specFields[b]
		switch {
		case oka && okb:
			return ia - ib
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		i, ok := specFields[k]
		if !ok {
			c.must(k, "is not a known key")
			continue
		}
		f := v.Field(i)
		dec := json.NewDecoder(bytes.NewReader(obj[k]))
		if err := dec.Decode(f.Addr().Interface()); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				c.failf(k, "want %s, got a JSON %s", jsonKind(f.Type()), te.Value)
			} else {
				c.fail(k, err)
			}
		}
	}
	return s, c.err()
}

// jsonKind says what a Spec field takes.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int:
		return "a whole number"
	case reflect.Slice:
		return "a list of strings"
	case reflect.Map:
		return "an object of strings"
	}
	return "a string"
}
