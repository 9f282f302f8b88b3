package recipients

import (
	"fmt"
	"strings"
	"testing"
)

// TestSimpleTemplateRendersAsTextTemplate: a template of text and {{.name}}
// values is joined without text/template, with the same text and the same
// errors (too long, empty, invalid UTF-8, too many characters) as
// text/template gives; other templates still go through text/template.
func TestSimpleTemplateRendersAsTextTemplate(t *testing.T) {
	opts := TemplateOptions{MaxRenderedBytes: 100, MaxTextRunes: 25}
	simple := []string{
		"Hi {{.first_name}}, your spring offer is waiting!",
		"{{.a}}{{.b}}",
		"{{- .a -}}  and  {{- .b}}",
		"{{/* note */}}Code {{.a}}",
		"plain text only",
		"{{.a}} < {{.b}} & \"{{.a}}\"",
	}
	complex := []string{
		"{{if .a}}yes{{end}}", "{{.a | html}}", "{{js .a}}", "{{slice .a 0 1}}",
		"{{$x := .a}}{{$x}}", "{{index . \"a\"}}", "{{with .a}}{{.}}{{end}}",
	}
	values := []string{"", " ", "Ann", "Zoë 👋", "{{.b}}", "<b>&amp;</b>", "\xff\xfe", strings.Repeat("x", 30),
		strings.Repeat("é", 30), strings.Repeat("y", 70), "a\nb\tc"}

	for _, text := range append(simple, complex...) {
		tm, err := ParseTemplateWith(text, opts)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		isSimple := tm.parts != nil
		if want := !strings.Contains(strings.Join(complex, "\x00"), text); isSimple != want {
			t.Errorf("%q: joined without text/template %v, want %v", text, isSimple, want)
		}
		slow := *tm
		slow.parts = nil
		for _, a := range values {
			for _, b := range values {
				vars := map[string]string{"first_name": a, "a": a, "b": b}
				got, gotErr := tm.Render(vars)
				want, wantErr := slow.Render(vars)
				if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Errorf("%q with a=%q b=%q: got %q, %v; text/template %q, %v", text, a, b, got, gotErr, want, wantErr)
				}
			}
		}
		if _, err := tm.Render(map[string]string{}); text != "plain text only" && err == nil {
			t.Errorf("%q: no error for missing variables", text)
		}
	}
}
