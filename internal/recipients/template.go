package recipients

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Defaults for [TemplateOptions].
const (
	// DefaultMaxTemplateBytes bounds the template text.
	DefaultMaxTemplateBytes = 16 << 10 // 16 KiB

	// DefaultMaxTextRunes is the longest rendered message, in Unicode code
	// points. 2000 fits every channel we send to: it is under WhatsApp's
	// documented 4096-character limit for a text message and, for SMS, is
	// about 13 concatenated parts of GSM-7 text (31 of UCS-2). It is a budget
	// guard, not a part count: how many SMS parts a text costs depends on its
	// encoding, which this package does not compute.
	DefaultMaxTextRunes = 2000
)

// ErrTemplate is wrapped by every error ParseTemplate returns.
var ErrTemplate = errors.New("invalid message template")

// TemplateOptions bounds a [Template]. Zero fields take their defaults;
// invalid values make ParseTemplateWith fail.
type TemplateOptions struct {
	// MaxTemplateBytes is the longest accepted template text.
	// Defaults to DefaultMaxTemplateBytes (16 KiB).
	MaxTemplateBytes int

	// MaxTextRunes is the longest accepted rendered message, in runes; a
	// row whose message is longer is rejected.
	// Defaults to DefaultMaxTextRunes (2000).
	MaxTextRunes int

	// MaxRenderedBytes caps the output of one Render: rendering stops with a
	// row error as soon as the output would pass it. It must be at least
	// 4×MaxTextRunes, so any text of MaxTextRunes runes fits.
	// Defaults to 4×MaxTextRunes.
	MaxRenderedBytes int
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o TemplateOptions) WithDefaults() TemplateOptions {
	o.MaxTemplateBytes = cmp.Or(o.MaxTemplateBytes, DefaultMaxTemplateBytes)
	o.MaxTextRunes = cmp.Or(o.MaxTextRunes, DefaultMaxTextRunes)
	o.MaxRenderedBytes = cmp.Or(o.MaxRenderedBytes, utf8.UTFMax*o.MaxTextRunes)
	return o
}

func (o TemplateOptions) validate() error {
	switch {
	case o.MaxTemplateBytes < 1:
		return fmt.Errorf("recipients: TemplateOptions.MaxTemplateBytes must be at least 1, got %d", o.MaxTemplateBytes)
	case o.MaxTextRunes < 1:
		return fmt.Errorf("recipients: TemplateOptions.MaxTextRunes must be at least 1, got %d", o.MaxTextRunes)
	case o.MaxRenderedBytes < utf8.UTFMax*o.MaxTextRunes:
		return fmt.Errorf("recipients: TemplateOptions.MaxRenderedBytes must be at least 4×MaxTextRunes (%d), got %d", utf8.UTFMax*o.MaxTextRunes, o.MaxRenderedBytes)
	}
	return nil
}

// Template is a message template: Go text/template syntax over a row's
// variables, for example "Hi {{.first_name}}, your code is {{.code}}".
// It is safe for concurrent use.
//
// A template may use:
//   - variables: {{.first_name}}, {{$.first_name}}, {{index . "first name"}}
//     for names that are not identifiers;
//   - {{if}}, {{else}}, {{with}}, and {{$v := …}} variables;
//   - the builtins and, or, not, eq, ne, lt, le, gt, ge, len, index and slice,
//     for example {{or .first_name "there"}};
//   - html, js and urlquery, but only on one value whose result is printed
//     directly: {{urlquery .code}} or {{.code | urlquery}}.
//
// Everything else is rejected by ParseTemplate: {{range}} (variables are
// strings, and ranging over an integer loops without producing output, so
// the output limit would not stop it), {{template}}, {{define}} and
// {{block}} (recursion), print, printf, println and call, and html, js or
// urlquery in any other position: each of these can build a value many times
// larger than the row in memory before anything is written, so the output
// limit could not bound it. With what remains, rendering takes time and
// memory linear in the template and the row. No function can reach the
// filesystem or the network.
type Template struct {
	t    *template.Template
	vars []string
	opts TemplateOptions
	// parts is the template when it is only text and {{.name}} values (as
	// most are): Render joins them instead of running text/template, which
	// writes the same bytes. Nil for any other template.
	parts []part
}

// part is literal text, or (isVar) the name of a variable whose value goes there.
type part struct {
	text  string
	isVar bool
}

// simpleParts returns root as parts when it holds only text and actions
// printing one variable ({{.name}}); ok is false for anything else.
func simpleParts(root *parse.ListNode) (parts []part, ok bool) {
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, part{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || p.IsAssign || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, isField := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !isField || len(f.Ident) != 1 {
				return nil, false
			}
			parts = append(parts, part{text: f.Ident[0], isVar: true})
		default:
			return nil, false
		}
	}
	return parts, true
}

// ParseTemplate parses a message template with the default TemplateOptions.
func ParseTemplate(text string) (*Template, error) {
	return ParseTemplateWith(text, TemplateOptions{})
}

// ParseTemplateWith parses a message template. Every error wraps
// ErrTemplate and says what to fix.
func ParseTemplateWith(text string, opts TemplateOptions) (*Template, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("recipients: %w: %s", ErrTemplate, fmt.Sprintf(format, args...))
	}
	switch {
	case len(text) > opts.MaxTemplateBytes:
		return nil, bad("the template is longer than %d bytes (MaxTemplateBytes)", opts.MaxTemplateBytes)
	case !utf8.ValidString(text):
		return nil, bad("the template is not valid UTF-8")
	case strings.TrimSpace(text) == "":
		return nil, bad("the template is empty")
	}
	t, err := template.New("message").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, bad("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(t.Templates()) > 1 {
		return nil, bad("{{define}} and {{block}} are not supported")
	}
	c := checker{vars: map[string]bool{}}
	c.list(t.Tree.Root, true)
	if c.err != nil {
		return nil, bad("%s", c.err)
	}
	vars := make([]string, 0, len(c.vars))
	for v := range c.vars {
		vars = append(vars, v)
	}
	slices.Sort(vars)
	tm := &Template{t: t, vars: vars, opts: opts}
	if parts, ok := simpleParts(t.Tree.Root); ok {
		tm.parts = parts
	}
	return tm, nil
}

// Vars returns the names of the variables the template uses, sorted.
func (t *Template) Vars() []string { return slices.Clone(t.vars) }

// CheckColumns reports, as a [*FatalError] wrapping ErrUnknownVariable, the
// first variable the template uses that is not one of columns (see
// [Reader.Columns]). Call it once the header is known, before any row.
func (t *Template) CheckColumns(columns []string) error {
	for _, v := range t.vars {
		if slices.Contains(columns, v) {
			continue
		}
		detail := fmt.Sprintf("the template uses %s but the CSV has no %s column", varRef(v), quoteName(v))
		switch lv := strings.ToLower(v); {
		case lv == colPhone || lv == colIdentity || lv == colChannel:
			detail += fmt.Sprintf(" that is a template variable (%q is the recipient or channel column)", v)
		default:
			for _, c := range columns {
				if strings.EqualFold(c, v) {
					detail += fmt.Sprintf(" (there is a column %s: names are case-sensitive)", quoteName(c))
					break
				}
			}
		}
		return &FatalError{Err: ErrUnknownVariable, Detail: detail}
	}
	return nil
}

// Render renders the template for one row's variables.
//
// Every problem is a [*RowError] without a Line (see [Template.RenderRow]):
// a variable the template uses that is not in vars (Column is its name; an
// empty value is not missing), output past MaxRenderedBytes, a message longer
// than MaxTextRunes, an empty or invalid UTF-8 message, or a failing builtin
// such as {{slice .code 0 4}} on a short value. Reasons never quote values.
func (t *Template) Render(vars map[string]string) (string, error) {
	for _, v := range t.vars {
		if _, ok := vars[v]; !ok {
			return "", &RowError{Column: v, Reason: "missing template variable " + varRef(v)}
		}
	}
	text, err := t.execute(vars)
	if errors.Is(err, errRenderedTooLong) {
		return "", &RowError{Reason: fmt.Sprintf("message is longer than %d bytes (MaxRenderedBytes)", t.opts.MaxRenderedBytes)}
	}
	if err != nil {
		return "", execRowError(err)
	}
	switch n := utf8.RuneCountInString(text); {
	case !utf8.ValidString(text):
		return "", &RowError{Reason: "message is not valid UTF-8 (a slice may have cut a character)"}
	case n > t.opts.MaxTextRunes:
		return "", &RowError{Reason: fmt.Sprintf("message is %d characters long, more than %d (--max-message-chars)", n, t.opts.MaxTextRunes)}
	case strings.TrimSpace(text) == "":
		return "", &RowError{Reason: "message is empty"}
	}
	return text, nil
}

// execute writes the template for vars, at most MaxRenderedBytes of it.
// Every variable the template uses is in vars (Render checked).
func (t *Template) execute(vars map[string]string) (string, error) {
	if t.parts == nil {
		w := limitedWriter{max: t.opts.MaxRenderedBytes}
		err := t.t.Execute(&w, vars)
		return string(w.buf), err
	}
	n := 0
	for _, p := range t.parts {
		if p.isVar {
			n += len(vars[p.text])
		} else {
			n += len(p.text)
		}
	}
	if n > t.opts.MaxRenderedBytes {
		return "", errRenderedTooLong
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range t.parts {
		if p.isVar {
			b.WriteString(vars[p.text])
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String(), nil
}

// RenderRow is Render(row.Vars) with row.Line set on any error.
func (t *Template) RenderRow(row Row) (string, error) {
	text, err := t.Render(row.Vars)
	var re *RowError
	if errors.As(err, &re) {
		re.Line = row.Line
	}
	return text, err
}

var errRenderedTooLong = errors.New("rendered message too long")

// limitedWriter refuses any write that would take it past max bytes;
// text/template stops at the first write error.
type limitedWriter struct {
	buf []byte
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(w.buf)+len(p) > w.max {
		return 0, errRenderedTooLong
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

var (
	// execErrRE splits a text/template ExecError into its location, node and
	// detail. The location and node come from the template text; the detail
	// may quote data, so it is kept only if safeDetailRE matches it.
	execErrRE    = regexp.MustCompile(`(?s)^template: [^:]*:(\d+:\d+): executing "[^"]*" at <(.*?)>: (.*)$`)
	safeDetailRE = regexp.MustCompile(`^(` +
		`error calling (index|slice): (index out of range: -?\d+|invalid slice index: -?\d+ > -?\d+|can't (index|slice) item of type [\w.\[\]]+|cannot index slice/array with (type [\w.\[\]]+|nil))` +
		`|error calling (eq|ne|lt|le|gt|ge): (incompatible types for comparison|invalid type for comparison|missing argument for comparison)(: [\w.\[\]]+ and [\w.\[\]]+)?` +
		`|error calling len: len of type [\w.\[\]]+` +
		`|wrong number of args for \w+: want( at least)? \d+ got \d+` +
		`|wrong type for value; expected [\w.\[\]]+; got [\w.\[\]]+` +
		`)$`)
	missingKeyRE = regexp.MustCompile(`^map has no entry for key "(.*)"$`)
)

// execRowError turns a text/template execution error into a RowError that
// does not quote row data.
func execRowError(err error) *RowError {
	m := execErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &RowError{Reason: "template failed for this row"}
	}
	pos, node, detail := m[1], m[2], m[3]
	if k := missingKeyRE.FindStringSubmatch(detail); k != nil {
		return &RowError{Column: k[1], Reason: "missing template variable " + varRef(k[1])}
	}
	reason := fmt.Sprintf("template failed at %s {{%s}}", pos, node)
	if safeDetailRE.MatchString(detail) {
		reason += ": " + detail
	}
	return &RowError{Reason: reason}
}

// identRE matches the names text/template accepts in {{.name}}.
var identRE = regexp.MustCompile(`^[\p{L}_][\p{L}\p{Nd}_]*$`)

// varRef shows how a template refers to a variable.
func varRef(name string) string {
	if identRE.MatchString(name) {
		return "{{." + name + "}}"
	}
	return fmt.Sprintf("{{index . %q}}", name)
}

var (
	// allowedFuncs return one of their arguments, part of one, a number or a
	// bool: never a value larger than their inputs.
	allowedFuncs = map[string]bool{
		"and": true, "or": true, "not": true,
		"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
		"len": true, "index": true, "slice": true,
	}
	// escapeFuncs grow their input up to six times, so they are only allowed
	// on a single value printed directly.
	escapeFuncs = map[string]bool{"html": true, "js": true, "urlquery": true}
)

// checker walks a parsed template, rejecting what Template does not support
// and collecting the variables it uses.
type checker struct {
	vars map[string]bool
	err  error
}

func (c *checker) fail(n parse.Node, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("{{%s}}: %s", n, fmt.Sprintf(format, args...))
	}
}

// list checks a list of nodes; dotRoot reports whether dot is the row's
// variables (it is not inside {{with}}).
func (c *checker) list(l *parse.ListNode, dotRoot bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n, dotRoot)
	}
}

func (c *checker) node(n parse.Node, dotRoot bool) {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		c.pipe(n.Pipe, dotRoot, len(n.Pipe.Decl) == 0)
	case *parse.IfNode:
		c.pipe(n.Pipe, dotRoot, false)
		c.list(n.List, dotRoot)
		c.list(n.ElseList, dotRoot)
	case *parse.WithNode:
		c.pipe(n.Pipe, dotRoot, false)
		c.list(n.List, false)
		c.list(n.ElseList, dotRoot)
	case *parse.RangeNode:
		if c.err == nil {
			c.err = errors.New("{{range}} is not supported: template variables are strings")
		}
	case *parse.TemplateNode:
		c.fail(n, "{{template}} is not supported")
	default:
		c.fail(n, "not supported")
	}
}

// pipe checks a pipeline; printed reports whether its value is printed as is
// (an action without variable declarations).
func (c *checker) pipe(p *parse.PipeNode, dotRoot, printed bool) {
	for i, cmd := range p.Cmds {
		c.command(p, cmd, dotRoot, printed && i == len(p.Cmds)-1, i > 0)
	}
}

func (c *checker) command(p *parse.PipeNode, cmd *parse.CommandNode, dotRoot, printed, piped bool) {
	for j, arg := range cmd.Args {
		switch a := arg.(type) {
		case *parse.IdentifierNode:
			switch {
			case escapeFuncs[a.Ident]:
				nargs := len(cmd.Args) - 1
				if piped {
					nargs++
				}
				if j != 0 || !printed || nargs != 1 {
					c.fail(p, "%s may only be applied to one value that is printed directly, as in {{%s .code}} or {{.code | %s}}", a.Ident, a.Ident, a.Ident)
				}
			case !allowedFuncs[a.Ident]:
				c.fail(p, "function %q is not supported (use and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, html, js, urlquery)", a.Ident)
			}
		case *parse.FieldNode:
			switch {
			case !dotRoot:
				c.fail(p, "inside {{with}} dot is a single value with no fields; use $%s", a)
			case len(a.Ident) > 1:
				c.fail(p, "template variables are strings and have no fields")
			default:
				c.vars[a.Ident[0]] = true
			}
		case *parse.VariableNode:
			switch {
			case len(a.Ident) > 2 || (len(a.Ident) == 2 && a.Ident[0] != "$"):
				c.fail(p, "template variables are strings and have no fields")
			case len(a.Ident) == 2:
				c.vars[a.Ident[1]] = true
			}
		case *parse.PipeNode:
			c.pipe(a, dotRoot, false)
		case *parse.ChainNode:
			c.fail(p, "field access on an expression is not supported")
		case *parse.DotNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		default:
			c.fail(p, "not supported")
		}
	}
	// {{index . "first name"}} uses the variable "first name".
	if len(cmd.Args) >= 3 {
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" && c.isRoot(cmd.Args[1], dotRoot) {
			if s, ok := cmd.Args[2].(*parse.StringNode); ok {
				c.vars[s.Text] = true
			}
		}
	}
}

// isRoot reports whether n evaluates to the row's variables.
func (c *checker) isRoot(n parse.Node, dotRoot bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		return dotRoot
	case *parse.VariableNode:
		return len(n.Ident) == 1 && n.Ident[0] == "$"
	}
	return false
}
