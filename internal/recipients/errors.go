package recipients

import (
	"errors"
	"fmt"
)

// Sentinel errors for problems that make a whole file unusable. [NewReader]
// returns them wrapped in a [*FatalError]; test for them with errors.Is.
var (
	// ErrEmpty means the file has no bytes (or only a byte order mark).
	ErrEmpty = errors.New("file is empty")
	// ErrNoHeader means the file has bytes but no header row (only blank lines).
	ErrNoHeader = errors.New("no header row")
	// ErrMalformedHeader means the header row could not be parsed: a quoting
	// error, an over-long row or name, a NUL byte.
	ErrMalformedHeader = errors.New("malformed header row")
	// ErrEncoding means the header is not valid text in the file's encoding:
	// UTF-8, unless a byte order mark or Options.Encoding says otherwise.
	ErrEncoding = errors.New("invalid text encoding")
	// ErrEmptyColumnName means a header cell is empty or only spaces.
	ErrEmptyColumnName = errors.New("empty column name")
	// ErrDuplicateColumn means two header cells name the same column.
	ErrDuplicateColumn = errors.New("duplicate column name")
	// ErrTooManyColumns means the header has more than Options.MaxColumns cells.
	ErrTooManyColumns = errors.New("too many columns")
	// ErrTooLarge means the file is larger than Options.MaxBytes.
	ErrTooLarge = errors.New("file is too large")
	// ErrNoPhoneColumn means no header cell is "phone" or "identity".
	ErrNoPhoneColumn = errors.New("no phone column")
	// ErrNoChannelColumn means Options.Channels lists a channel that is not
	// phone-based and the file has no column for its identities.
	ErrNoChannelColumn = errors.New("no identity column for a listed channel")
	// ErrChannelColumn means a fallback campaign's file has a channel
	// column: its rows are sent on Options.Channels, in that order.
	ErrChannelColumn = errors.New("channel column in a fallback campaign")
	// ErrUnknownVariable means the message template uses a variable that is not
	// a column of the file.
	ErrUnknownVariable = errors.New("template variable has no column")
)

// FatalError is a problem with the file as a whole; reading cannot go on.
// Its message never contains a value from a data row.
type FatalError struct {
	// Err is one of the Err* sentinels of this package.
	Err error
	// Line is the 1-based line of the file the problem is on, or 0.
	Line int
	// Detail says what exactly is wrong, for the user.
	Detail string
}

func (e *FatalError) Error() string {
	s := "recipients: "
	if e.Line > 0 {
		s += fmt.Sprintf("line %d: ", e.Line)
	}
	s += e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel, so errors.Is(err, ErrNoPhoneColumn) works.
func (e *FatalError) Unwrap() error { return e.Err }

// RowError rejects one row. Reading goes on with the next row.
//
// It names the row and the column but never contains the cell's value: the
// rejects file and the logs must stay free of personal data.
type RowError struct {
	// Line is the 1-based line of the file on which the row starts (see the
	// package documentation). It is 0 when the error comes from
	// [Template.Render], which does not know the row.
	Line int
	// Column is the header name of the offending column, or "" when the
	// problem is with the row as a whole.
	Column string
	// Reason says what is wrong, without quoting the value.
	Reason string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("row %d, column %q: %s", e.Line, e.Column, e.Reason)
}
