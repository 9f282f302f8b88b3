package dashboard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a dashboard user may do. Each role may do what the ones
// below it may.
type Role int

const (
	// RoleViewer reads: pages, the GET API, /metrics, the task monitor.
	RoleViewer Role = iota + 1
	// RoleOperator also runs every campaign action (pause, resume,
	// cancel, retry, and any other that changes a campaign).
	RoleOperator
	// RoleAdmin also changes tasks and queues in the task monitor
	// (asynqmon), when the dashboard runs with --admin.
	RoleAdmin
)

var roleNames = map[Role]string{RoleViewer: "viewer", RoleOperator: "operator", RoleAdmin: "admin"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return "none"
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if s == n {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w %q: use viewer, operator or admin", ErrBadRole, s)
}

// User is one line of the users file.
type User struct {
	Name string
	Hash []byte // bcrypt
	Role Role
}

// Users file errors, by what is wrong.
var (
	ErrBadRole       = errors.New("unknown role")
	ErrUnsupported   = errors.New("unsupported password hash")
	ErrDuplicateUser = errors.New("duplicate user")
	ErrBadUserLine   = errors.New("malformed line")
)

// UsersFileError is a bad line of the users file.
type UsersFileError struct {
	File string
	Line int
	Err  error
}

func (e *UsersFileError) Error() string { return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err) }
func (e *UsersFileError) Unwrap() error { return e.Err }

// bcryptPrefixes are the bcrypt versions accepted: $2y$ is what htpasswd
// -B writes, $2a$ and $2b$ what most libraries do. Others ($2x$, the
// buggy PHP variant; apr1-MD5, SHA-1, crypt, plain text) are refused.
var bcryptPrefixes = []string{"$2a$", "$2b$", "$2y$"}

// ReadUsers reads a users file: one user a line as
//
//	name:bcrypt-hash:role
//
// (htpasswd's name:hash with the role appended), blank lines and lines
// starting with # ignored. Every bad line is reported, each error naming
// file and line; the hashes themselves are never echoed.
func ReadUsers(file string, r io.Reader) ([]User, error) {
	var (
		users []User
		errs  []error
		first = map[string]int{} // name → line
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := parseUser(line)
		if err == nil {
			if at, dup := first[u.Name]; dup {
				err = fmt.Errorf("%w %q (first on line %d)", ErrDuplicateUser, u.Name, at)
			}
		}
		if err != nil {
			errs = append(errs, &UsersFileError{File: file, Line: n, Err: err})
			continue
		}
		first[u.Name] = n
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return users, nil
}

func parseUser(line string) (User, error) {
	name, rest, ok1 := strings.Cut(line, ":")
	hash, role, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return User{}, fmt.Errorf("%w: want name:bcrypt-hash:role", ErrBadUserLine)
	}
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return User{}, fmt.Errorf("%w: the user name must be non-empty, without spaces", ErrBadUserLine)
	}
	if !hasAnyPrefix(hash, bcryptPrefixes) {
		return User{}, fmt.Errorf("%w for user %q: want bcrypt ($2y$, $2a$ or $2b$; htpasswd -nbB user password)", ErrUnsupported, name)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return User{}, fmt.Errorf("%w for user %q: not a valid bcrypt hash", ErrUnsupported, name)
	}
	rl, err := ParseRole(role)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return User{Name: name, Hash: []byte(hash), Role: rl}, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// LoadUsers reads the users file at path. warnings are problems that do
// not stop the dashboard: a file that other users of the machine may
// read (its hashes could be attacked offline).
func LoadUsers(path string) (users []User, warnings []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("DASHBOARD_USERS_FILE: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o004 != 0 {
		warnings = append(warnings, fmt.Sprintf("%s is readable by every user of the machine (mode %04o): chmod 600 or 640 it",
			path, st.Mode().Perm()))
	}
	users, err = ReadUsers(path, f)
	if err == nil && len(users) == 0 {
		err = fmt.Errorf("DASHBOARD_USERS_FILE %s holds no user", path)
	}
	return users, warnings, err
}
