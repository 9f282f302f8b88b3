package enqueue

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// SuppressList is one upload's own list of identities to skip (enqueue
// --suppress). It is not the suppression list in Redis: it applies to the
// upload it is given to and is stored nowhere.
type SuppressList struct {
	anyChannel map[string]struct{} // identity: skipped on every channel
	perChannel map[string]struct{} // channel + ":" + identity
}

// Len is the number of entries.
func (l *SuppressList) Len() int { return len(l.anyChannel) + len(l.perChannel) }

// Contains reports whether the recipient is on the list.
func (l *SuppressList) Contains(ch sinch.Channel, identity string) bool {
	if _, ok := l.anyChannel[identity]; ok {
		return true
	}
	_, ok := l.perChannel[string(ch)+":"+identity]
	return ok
}

// maxSuppressLine bounds one line of a suppress file.
const maxSuppressLine = 64 << 10

// ReadSuppressList reads a suppress file in one of two forms:
//
//   - a CSV whose header has a phone (or identity) column and optionally a
//     channel column, with ',', ';', tab or '|' between fields: each row
//     suppresses its identity on its channel, or on every channel when the
//     channel cell is empty or there is no channel column;
//   - a plain list, one phone number per line and no header: each
//     suppresses that number on every channel.
//
// Phone numbers are normalised to E.164 as the recipient reader does
// (region is for national formats), so "06 12 34 56 78" with region FR
// matches the recipient "+33612345678". An unusable entry is an error naming
// its line, never a silent skip: a missed entry means a message sent to
// someone who asked not to get one. Errors never quote the entry.
func ReadSuppressList(r io.Reader, region string) (*SuppressList, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	l := &SuppressList{anyChannel: map[string]struct{}{}, perChannel: map[string]struct{}{}}
	br := bufio.NewReaderSize(r, maxSuppressLine)
	first, err := firstLine(br)
	if err != nil {
		return nil, err
	}
	if delim, ok := suppressHeader(first); ok {
		return l, l.readCSV(br, delim, region)
	}
	return l, l.readList(br, region)
}

// firstLine peeks at the first non-blank line without consuming anything.
func firstLine(br *bufio.Reader) (string, error) {
	b, err := br.Peek(maxSuppressLine)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	for _, line := range strings.Split(strings.TrimPrefix(string(b), "\ufeff"), "\n") {
		if t := strings.TrimSpace(line); t != "" {
			return t, nil
		}
	}
	return "", nil
}

// suppressHeader reports whether line is a CSV header with a phone or
// identity column, and its delimiter.
func suppressHeader(line string) (rune, bool) {
	for _, d := range []rune{',', ';', '\t', '|'} {
		for _, cell := range strings.Split(line, string(d)) {
			switch strings.ToLower(strings.Trim(strings.TrimSpace(cell), `"`)) {
			case "phone", "identity":
				return d, true
			}
		}
	}
	return 0, false
}

func (l *SuppressList) readCSV(r io.Reader, delim rune, region string) error {
	cr := csv.NewReader(stripBOM(r))
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	idCol, chCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "phone", "identity":
			idCol = i
		case "channel":
			chCol = i
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("line %d: %v", perr.StartLine, perr.Err)
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		if idCol >= len(rec) {
			return fmt.Errorf("line %d: no %s column", line, header[idCol])
		}
		var ch sinch.Channel
		if chCol >= 0 && chCol < len(rec) && strings.TrimSpace(rec[chCol]) != "" {
			if ch, err = recipients.ParseChannel(rec[chCol]); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
		}
		if err := l.add(ch, rec[idCol], region); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}

func (l *SuppressList) readList(r io.Reader, region string) error {
	sc := bufio.NewScanner(stripBOM(r))
	sc.Buffer(make([]byte, 0, 4096), maxSuppressLine)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := l.add("", sc.Text(), region); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	return sc.Err()
}

// add normalises one entry; ch "" means every channel, which only a phone
// number can be an identity on.
func (l *SuppressList) add(ch sinch.Channel, raw, region string) error {
	if ch == "" {
		id, err := recipients.NormalizePhone(raw, region)
		if err != nil {
			return fmt.Errorf("%w (an identity that is not a phone number needs a CSV with phone and channel columns)", err)
		}
		l.anyChannel[id] = struct{}{}
		return nil
	}
	id, err := recipients.NormalizeIdentity(ch, raw, region)
	if err != nil {
		return err
	}
	l.perChannel[string(ch)+":"+id] = struct{}{}
	return nil
}

// stripBOM drops a leading UTF-8 byte-order mark.
func stripBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	return br
}
