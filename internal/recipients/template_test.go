package recipients

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustParse(t testing.TB, text string) *Template {
	t.Helper()
	tmpl, err := ParseTemplate(text)
	if err != nil {
		t.Fatalf("ParseTemplate(%q): %v", text, err)
	}
	return tmpl
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // substring of the error
	}{
		{"unclosed action", "Hi {{.first_name", "unclosed action"},
		{"unknown function", "Hi {{upper .first_name}}", `function "upper" not defined`},
		{"empty", "  \n ", "the template is empty"},
		{"invalid UTF-8", "Hi \xff", "not valid UTF-8"},
		{"too long", strings.Repeat("x", DefaultMaxTemplateBytes+1), "longer than 16384 bytes"},
		{"range", "{{range .x}}{{.}}{{end}}", "{{range}} is not supported"},
		{"range over a string with index", "{{range $i, $c := .x}}{{$i}}{{end}}", "{{range}} is not supported"},
		{"range over an integer", "{{range 1000000000}}{{end}}", "{{range}} is not supported"},
		{"define", `{{define "a"}}x{{end}}{{template "a"}}`, "not supported"},
		{"block", `{{block "a" .}}x{{end}}`, "not supported"},
		{"template", `{{template "message" .}}`, "{{template}} is not supported"},
		{"printf", `{{printf "%999999d" 1}}`, `function "printf" is not supported`},
		{"print", `{{print .x .x}}`, `function "print" is not supported`},
		{"println", `{{println .x}}`, `function "println" is not supported`},
		{"call", `{{call .x}}`, `function "call" is not supported`},
		{"nested urlquery", `{{urlquery (urlquery .x)}}`, "urlquery may only be applied to one value that is printed directly"},
		{"piped twice", `{{.x | js | js}}`, "js may only be applied"},
		{"urlquery with two arguments", `{{urlquery .x .y}}`, "urlquery may only be applied"},
		{"urlquery into a variable", `{{$a := urlquery .x}}{{$a}}`, "urlquery may only be applied"},
		{"html in with", `{{with html .x}}{{html .}}{{end}}`, "html may only be applied"},
		{"html in if", `{{if html .x}}y{{end}}`, "html may only be applied"},
		{"urlquery inside len", `{{len (urlquery .x)}}`, "urlquery may only be applied"},
		{"field of a variable", "{{.x.y}}", "template variables are strings and have no fields"},
		{"field of $", "{{$.x.y}}", "template variables are strings and have no fields"},
		{"field of a declared variable", "{{$v := .x}}{{$v.y}}", "template variables are strings and have no fields"},
		{"field inside with", "{{with .x}}{{.y}}{{end}}", "inside {{with}} dot is a single value with no fields; use $.y"},
		{"chain", `{{(index . "x").y}}`, "field access on an expression is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplate(tt.text)
			if err == nil {
				t.Fatalf("got template with vars %v, want an error containing %q", tmpl.Vars(), tt.want)
			}
			if !errors.Is(err, ErrTemplate) {
				t.Errorf("got error %v, want it to wrap ErrTemplate", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTemplateVars(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Hello", nil},
		{"Hi {{.first_name}}, code {{.code}}. Bye {{.first_name}}", []string{"code", "first_name"}},
		{`{{if .vip}}Dear {{$.title}} {{else}}Hi {{end}}{{or .first_name "there"}}`, []string{"first_name", "title", "vip"}},
		{`{{index . "last name"}} {{index $ "city"}}`, []string{"city", "last name"}},
		{`{{with .nick}}{{.}}{{else}}{{.first_name}}{{end}}`, []string{"first_name", "nick"}},
		{`{{.code | urlquery}} {{js .x}} {{html .y}}`, []string{"code", "x", "y"}},
		{`{{$n := len .code}}{{if gt $n 4}}{{slice .code 0 4}}{{end}}`, []string{"code"}},
		{`{{/* a comment {{.nope}} */}}{{- .a -}}`, []string{"a"}},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.text).Vars(); !slices.Equal(got, tt.want) {
			t.Errorf("Vars(%q): got %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestCheckColumns(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		columns []string
		want    string // "" for no error
	}{
		{"all present", "Hi {{.first_name}} {{.code}}", []string{"code", "first_name", "unused"}, ""},
		{"no variables", "Hello", nil, ""},
		{"missing", "Hi {{.first_name}}", []string{"name"}, `the template uses {{.first_name}} but the CSV has no "first_name" column`},
		{"case differs", "Hi {{.first_name}}", []string{"First_Name"}, `(there is a column "First_Name": names are case-sensitive)`},
		{"phone is not a variable", "Your number {{.phone}}", []string{"name"}, `"phone" is the recipient or channel column`},
		{"name that is not an identifier", `{{index . "last name"}}`, []string{"name"}, `the template uses {{index . "last name"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustParse(t, tt.text).CheckColumns(tt.columns)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownVariable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrUnknownVariable containing %q", err, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	vars := map[string]string{
		"first_name": "Ann",
		"empty":      "",
		"code":       "AB12",
		"last name":  "O'Neil",
		"html":       "<b>&</b>",
		"url":        "a b&c",
		"utf8":       "été",
	}
	tests := []struct {
		name       string
		text       string
		vars       map[string]string
		want       string
		wantColumn string
		wantReason string // substring; "" when Render succeeds
	}{
		{"plain", "Hi {{.first_name}}, your code is {{.code}}.", vars, "Hi Ann, your code is AB12.", "", ""},
		{"no variables", "Hello!", vars, "Hello!", "", ""},
		{"empty value renders empty", "Hi {{.empty}}!", vars, "Hi !", "", ""},
		{"or for a default", `Hi {{or .empty "there"}}!`, vars, "Hi there!", "", ""},
		{"if else", `{{if .empty}}Hi {{.empty}}{{else}}Hello{{end}}`, vars, "Hello", "", ""},
		{"with", `{{with .first_name}}Hi {{.}}{{end}}`, vars, "Hi Ann", "", ""},
		{"$ in with", `{{with .first_name}}{{$.code}}{{end}}`, vars, "AB12", "", ""},
		{"index for a name with a space", `Dear {{index . "last name"}}`, vars, "Dear O'Neil", "", ""},
		{"comparison", `{{if eq .code "AB12"}}match{{end}}`, vars, "match", "", ""},
		{"len and slice", `{{slice .code 0 2}}-{{len .code}}`, vars, "AB-4", "", ""},
		{"urlquery", `https://x.example/?n={{urlquery .url}}`, vars, "https://x.example/?n=a+b%26c", "", ""},
		{"html piped", `{{.html | html}}`, vars, "&lt;b&gt;&amp;&lt;/b&gt;", "", ""},
		{"text is not escaped", `{{.html}}`, vars, "<b>&</b>", "", ""},
		{"missing variable", "Hi {{.first_name}}", map[string]string{"code": "x"}, "", "first_name", "missing template variable {{.first_name}}"},
		{"missing variable via index", `Hi {{index . "last name"}}`, map[string]string{}, "", "last name", `missing template variable {{index . "last name"}}`},
		{"nil vars", "Hi {{.first_name}}", nil, "", "first_name", "missing template variable"},
		{"empty message", "{{.empty}}  ", vars, "", "", "message is empty"},
		{"slice out of range", `{{slice .code 0 10}}`, vars, "", "", "template failed at 1:2 {{slice .code 0 10}}: error calling slice: index out of range: 10"},
		{"index out of range", `{{index .code 10}}`, vars, "", "", "error calling index: index out of range: 10"},
		{"slice cuts a character", `{{slice .utf8 0 1}}x`, vars, "", "", "not valid UTF-8"},
		{"compare string and number", `{{if lt .code 3}}x{{end}}`, vars, "", "", "incompatible types for comparison"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustParse(t, tt.text).Render(tt.vars)
			if tt.wantReason == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %q, %v, want %q, nil", got, err, tt.want)
				}
				return
			}
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("got %q, %v, want a *RowError", got, err)
			}
			if got != "" {
				t.Errorf("got text %q with the error, want \"\"", got)
			}
			if re.Column != tt.wantColumn || !strings.Contains(re.Reason, tt.wantReason) {
				t.Errorf("got column %q reason %q, want column %q reason containing %q", re.Column, re.Reason, tt.wantColumn, tt.wantReason)
			}
		})
	}
}

func TestRenderLimits(t *testing.T) {
	opts := TemplateOptions{MaxTextRunes: 10} // MaxRenderedBytes defaults to 40
	tests := []struct {
		name       string
		text       string
		value      string
		want       string
		wantReason string
	}{
		{"at the rune limit", "{{.x}}", "éééééééééé", "éééééééééé", ""},
		{"over the rune limit", "{{.x}}", "ééééééééééé", "", "message is 11 characters long, more than 10 (--max-message-chars)"},
		{"over the byte limit", "{{.x}}", strings.Repeat("a", 41), "", "message is longer than 40 bytes (MaxRenderedBytes)"},
		{"repeated variable over the byte limit", strings.Repeat("{{.x}}", 100), strings.Repeat("a", 10), "", "longer than 40 bytes"},
		{"escaping over the byte limit", "{{js .x}}", strings.Repeat("<", 10), "", "longer than 40 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplateWith(tt.text, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(map[string]string{"x": tt.value})
			if tt.wantReason == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %q, %v, want %q, nil", got, err, tt.want)
				}
				return
			}
			var re *RowError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.wantReason) {
				t.Errorf("got %q, %v, want a RowError containing %q", got, err, tt.wantReason)
			}
		})
	}
}

func TestTemplateOptions(t *testing.T) {
	tests := []struct {
		name string
		opts TemplateOptions
		want string // "" for valid
	}{
		{"zero", TemplateOptions{}, ""},
		{"WhatsApp-sized", TemplateOptions{MaxTextRunes: 4096}, ""},
		{"negative runes", TemplateOptions{MaxTextRunes: -1}, "TemplateOptions.MaxTextRunes"},
		{"negative template size", TemplateOptions{MaxTemplateBytes: -1}, "TemplateOptions.MaxTemplateBytes"},
		{"rendered bytes too small", TemplateOptions{MaxTextRunes: 100, MaxRenderedBytes: 399}, "TemplateOptions.MaxRenderedBytes must be at least 4×MaxTextRunes (400)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTemplateWith("Hi", tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	got := TemplateOptions{}.WithDefaults()
	want := TemplateOptions{MaxTemplateBytes: DefaultMaxTemplateBytes, MaxTextRunes: DefaultMaxTextRunes, MaxRenderedBytes: 4 * DefaultMaxTextRunes}
	if got != want {
		t.Errorf("WithDefaults: got %+v, want %+v", got, want)
	}
}

func TestRenderRow(t *testing.T) {
	tmpl := mustParse(t, "Hi {{.first_name}}")
	_, err := tmpl.RenderRow(Row{Line: 7, Vars: map[string]string{}})
	var re *RowError
	if !errors.As(err, &re) || re.Line != 7 || re.Column != "first_name" {
		t.Fatalf("got %v, want a RowError on line 7, column first_name", err)
	}
	if got, want := err.Error(), `row 7, column "first_name": missing template variable {{.first_name}}`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	text, err := tmpl.RenderRow(Row{Line: 8, Vars: map[string]string{"first_name": "Bo"}})
	if err != nil || text != "Hi Bo" {
		t.Errorf("got %q, %v, want \"Hi Bo\", nil", text, err)
	}
}

// TestRenderErrorsHoldNoValues checks that failing renders never quote the
// row's values, including errors whose text/template message would.
func TestRenderErrorsHoldNoValues(t *testing.T) {
	const secret = "Pers0nal-D4ta"
	texts := []string{
		`{{slice .x 0 100}}`, `{{index .x 100}}`, `{{if lt .x 3}}{{end}}`, `{{if eq .x 3}}{{end}}`,
		`{{slice .x 5 2}}`, `{{len .x | slice .x}}`, `{{not}}`, `{{.x}}{{.x}}{{.x}}{{.x}}{{.x}}`,
		`{{index .x "a"}}`, `{{slice .x "a"}}`, `{{eq .x}}`, `{{len 3}}`,
	}
	for _, text := range texts {
		tmpl, err := ParseTemplateWith(text, TemplateOptions{MaxTextRunes: 10})
		if err != nil {
			continue // rejected at parse time is fine too
		}
		_, err = tmpl.Render(map[string]string{"x": secret})
		if err == nil {
			t.Errorf("%s: got no error, want one", text)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q contains the value", text, err)
		}
		var re *RowError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %T, want *RowError", text, err)
		}
	}
}

func TestRenderConcurrent(t *testing.T) {
	tmpl := mustParse(t, "Hi {{.first_name}} #{{.n}}")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := fmt.Sprint(g*1000 + i)
				got, err := tmpl.Render(map[string]string{"first_name": "Ann", "n": n})
				if want := "Hi Ann #" + n; err != nil || got != want {
					errs <- fmt.Errorf("got %q, %v, want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReaderWithTemplate runs the sample campaign through a template, as
// the send pipeline will.
func TestReaderWithTemplate(t *testing.T) {
	tmpl := mustParse(t, `Hi {{or .first_name "there"}}, visit us in {{.store}}!`)
	_, rows := readFile(t, "sample-campaign.csv", Options{DefaultRegion: "US", Template: tmpl})
	got := map[int]string{}
	for _, row := range rows {
		text, err := tmpl.RenderRow(row)
		if err != nil {
			t.Fatalf("line %d: %v", row.Line, err)
		}
		got[row.Line] = text
	}
	want := map[int]string{
		2:  "Hi Camille, visit us in Paris!",
		16: "Hi there, visit us in Boston!", // empty first_name
		23: "Hi de Vries, Sanne, visit us in Amsterdam!",
	}
	for line, w := range want {
		if got[line] != w {
			t.Errorf("line %d: got %q, want %q", line, got[line], w)
		}
	}
}
