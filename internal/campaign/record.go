package campaign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// A pending recipient's record is most of what Redis holds per recipient
// of a campaign not yet sent, so Register writes it compactly: the row,
// channel and identity as "row|channel|identity" (about half the bytes of
// the JSON, which puts the value in a smaller allocation class). Every
// later write (an attempt, the send, a failure) stores the record as JSON.
// A record beginning with '{' is JSON; anything else is the compact form.
// The identity comes last, so it may hold any character.

// encodeRecord is the stored form of rec: compact when it has only a row,
// channel and identity, JSON otherwise.
func encodeRecord(rec Record) ([]byte, error) {
	if rec == (Record{Row: rec.Row, Channel: rec.Channel, Identity: rec.Identity}) && rec.Row >= 0 &&
		!strings.Contains(string(rec.Channel), "|") {
		b := make([]byte, 0, 24+len(rec.Identity))
		b = strconv.AppendInt(b, int64(rec.Row), 10)
		b = append(b, '|')
		b = append(b, rec.Channel...)
		b = append(b, '|')
		return append(b, rec.Identity...), nil
	}
	return json.Marshal(rec)
}

// decodeRecord reads a record in either stored form.
func decodeRecord(b []byte, rec *Record) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, rec)
	}
	row, rest, ok1 := bytes.Cut(b, []byte("|"))
	ch, identity, ok2 := bytes.Cut(rest, []byte("|"))
	n, err := strconv.Atoi(string(row))
	if !ok1 || !ok2 || err != nil {
		return fmt.Errorf("neither JSON nor row|channel|identity")
	}
	*rec = Record{Row: n, Channel: sinch.Channel(ch), Identity: string(identity)}
	return nil
}
