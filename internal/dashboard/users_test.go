package dashboard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// hashOf is a bcrypt hash of password at the lowest cost (tests stay
// fast), with the version prefix given ("$2a$" is what Go writes).
func hashOf(t *testing.T, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + strings.TrimPrefix(string(h), "$2a$")
}

func TestReadUsersAcceptsBcryptVersionsCommentsAndBlankLines(t *testing.T) {
	file := strings.Join([]string{
		"\uFEFF# dashboard users",
		"",
		"alice:" + hashOf(t, "pw-alice", "$2y$") + ":viewer",
		"  bob:" + hashOf(t, "pw-bob", "$2a$") + ":operator  ",
		"carol:" + hashOf(t, "pw-carol", "$2b$") + ":admin",
	}, "\r\n")
	users, err := ReadUsers("users.txt", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, password string
		role           Role
	}{{"alice", "pw-alice", RoleViewer}, {"bob", "pw-bob", RoleOperator}, {"carol", "pw-carol", RoleAdmin}}
	if len(users) != len(want) {
		t.Fatalf("got %d users, want %d", len(users), len(want))
	}
	for i, w := range want {
		u := users[i]
		if u.Name != w.name || u.Role != w.role {
			t.Errorf("user %d: got %s/%s, want %s/%s", i, u.Name, u.Role, w.name, w.role)
		}
		if err := bcrypt.CompareHashAndPassword(u.Hash, []byte(w.password)); err != nil {
			t.Errorf("user %s (%s): the hash does not check: %v", u.Name, u.Hash[:4], err)
		}
	}
}

func TestReadUsersNamesFileAndLineOfEveryBadLine(t *testing.T) {
	good := hashOf(t, "pw", "$2y$")
	cases := []struct {
		name, line string
		want       error
		says       string
	}{
		{"no role", "alice:" + good, ErrBadUserLine, "name:bcrypt-hash:role"},
		{"no hash", "alice", ErrBadUserLine, "name:bcrypt-hash:role"},
		{"empty name", ":" + good + ":viewer", ErrBadUserLine, "user name"},
		{"name with a space", "al ice:" + good + ":viewer", ErrBadUserLine, "user name"},
		{"unknown role", "alice:" + good + ":root", ErrBadRole, `"root"`},
		{"role in capitals", "alice:" + good + ":Admin", ErrBadRole, "viewer, operator or admin"},
		{"apr1 MD5 (htpasswd's default)", "alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/:viewer", ErrUnsupported, "htpasswd -nbB"},
		{"SHA-1", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=:viewer", ErrUnsupported, "bcrypt"},
		{"plain text", "alice:hunter2:viewer", ErrUnsupported, "bcrypt"},
		{"$2x$ bcrypt", "alice:$2x$" + good[4:] + ":viewer", ErrUnsupported, "bcrypt"},
		{"truncated bcrypt", "alice:" + good[:20] + ":viewer", ErrUnsupported, "not a valid bcrypt hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := "# users\nok:" + good + ":viewer\n" + c.line + "\n"
			_, err := ReadUsers("/etc/dash/users", strings.NewReader(file))
			var fe *UsersFileError
			if !errors.As(err, &fe) || !errors.Is(err, c.want) {
				t.Fatalf("got %v, want a UsersFileError wrapping %v", err, c.want)
			}
			if fe.File != "/etc/dash/users" || fe.Line != 3 {
				t.Errorf("got file %q line %d, want /etc/dash/users line 3", fe.File, fe.Line)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "/etc/dash/users line 3: ") || !strings.Contains(msg, c.says) {
				t.Errorf("got %q, want it to start with the file and line and say %q", msg, c.says)
			}
			if strings.Contains(err.Error(), good[7:]) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error echoes the hash or password: %q", err)
			}
		})
	}
}

func TestReadUsersReportsEveryErrorAndDuplicates(t *testing.T) {
	h := hashOf(t, "pw", "$2y$")
	file := "alice:" + h + ":viewer\nbob:md5:viewer\nalice:" + h + ":admin\ncarol:" + h + ":boss\n"
	users, err := ReadUsers("users", strings.NewReader(file))
	if users != nil {
		t.Errorf("got %d users from a bad file, want none", len(users))
	}
	for _, want := range []string{
		"users line 2: unsupported password hash",
		`users line 3: duplicate user "alice" (first on line 1)`,
		`users line 4: user "carol": unknown role "boss"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
	if !errors.Is(err, ErrDuplicateUser) || !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrBadRole) {
		t.Errorf("got %v, want it to wrap ErrDuplicateUser, ErrUnsupported and ErrBadRole", err)
	}
}

func TestLoadUsersWarnsOfAWorldReadableFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	line := "alice:" + hashOf(t, "pw", "$2y$") + ":viewer\n"
	cases := []struct {
		name     string
		path     string
		users    int
		warnings int
		err      string
	}{
		{"private", write("private", line, 0o600), 1, 0, ""},
		{"group-readable", write("group", line, 0o640), 1, 0, ""},
		{"world-readable", write("world", line, 0o644), 1, 1, ""},
		{"no user", write("empty", "# nobody yet\n", 0o600), 0, 0, "holds no user"},
		{"missing", filepath.Join(dir, "missing"), 0, 0, "DASHBOARD_USERS_FILE: open " + filepath.Join(dir, "missing")},
	}
	for _, c := range cases {
		users, warnings, err := LoadUsers(c.path)
		if len(users) != c.users || len(warnings) != c.warnings {
			t.Errorf("%s: got %d users, warnings %q; want %d users, %d warnings", c.name, len(users), warnings, c.users, c.warnings)
		}
		if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: got error %v, want one saying %q", c.name, err, c.err)
		}
		for _, w := range warnings {
			if !strings.Contains(w, c.path) || !strings.Contains(w, "0644") || !strings.Contains(w, "chmod") {
				t.Errorf("%s: warning %q does not name the file, its mode and the fix", c.name, w)
			}
		}
	}
}

func TestTheEnvUserMustNotAlsoBeAFileUser(t *testing.T) {
	a := Auth{User: "ops", Password: "p", Users: []User{{Name: "ops", Role: RoleViewer}}}
	if err := a.Validate("0.0.0.0:8080"); !errors.Is(err, ErrDuplicateUser) || !strings.Contains(err.Error(), "DASHBOARD_USERS_FILE") {
		t.Fatalf("got %v, want ErrDuplicateUser naming DASHBOARD_USERS_FILE", err)
	}
	a.Users[0].Name = "vera"
	if err := a.Validate("0.0.0.0:8080"); err != nil {
		t.Fatalf("distinct users: got %v", err)
	}
	if err := (Auth{Users: a.Users}).Validate("0.0.0.0:8080"); err != nil {
		t.Fatalf("a users file alone is a credential: got %v", err)
	}
}

func TestReadUsersTakesHtpasswdOutput(t *testing.T) {
	users, _, err := LoadUsers(filepath.Join("testdata", "htpasswd-users")) // warnings: the checkout's mode
	if err != nil || len(users) != 1 {
		t.Fatalf("got %d users, %v; want alice", len(users), err)
	}
	if u := users[0]; u.Name != "alice" || u.Role != RoleViewer || bcrypt.CompareHashAndPassword(u.Hash, []byte("her password")) != nil {
		t.Fatalf("got %s/%s, or the password does not check against htpasswd's hash", u.Name, u.Role)
	}
}
