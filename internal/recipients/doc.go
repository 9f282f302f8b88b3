// Package recipients reads a campaign's recipient CSV, one row at a time, and
// turns each valid row into a [Row] ready to be sent through Sinch.
//
// # File format
//
// The first non-blank line is a header. It must name a recipient column,
// "phone" (alias "identity"); it may name a "channel" column that overrides
// [Options.DefaultChannel] for that row; every other column is a template
// variable, keyed by its header name. Header names are trimmed and matched
// case-insensitively for "phone", "identity" and "channel"; two columns whose
// names differ only in case are duplicates.
//
// The reader accepts CRLF or LF line endings, quoted fields (RFC 4180:
// "a, b", "line 1\nline 2", "say ""hi""") and any single-byte delimiter.
// Blank lines are skipped.
//
// A '"' inside a value that does not start with one is part of the value,
// as spreadsheets read an inch mark (27" screen, 37°36'37.8"N);
// [Options.StrictQuotes] rejects such rows instead. A value that starts
// with '"' is a quoted field: a '"' inside it must be doubled or end the
// field, else the row is rejected and the rest of its line skipped, and a
// quoted field never closed is reported on the row where it starts.
//
// The file is UTF-8, with or without a byte order mark. A UTF-16 byte order
// mark (Excel's "Unicode text", which is tab-separated: set the delimiter to
// '\t') makes it UTF-16; [Options.Encoding] names a legacy encoding such as
// windows-1252 or Shift_JIS. Decoding streams: memory does not grow with the
// file. A value that is not valid in the file's encoding is rejected with
// its row.
//
// # Errors
//
// Problems with the file as a whole (empty file, no header, no phone column,
// duplicate or empty column names, too many columns, a broken header) are
// fatal: [NewReader] returns a [*FatalError] that wraps one of the Err*
// sentinels, so callers can use errors.Is. Problems with one row are not fatal:
// [Reader.Next] returns a [*RowError] for that row and the caller moves on to
// the next one. Neither kind of error ever contains a cell value from a data
// row, because phone numbers and names are personal data that must stay out of
// logs. An error caused by a limit names the enqueue flag that sets it
// (--max-field-bytes for [Options.MaxFieldBytes], and so on), because that is
// what the person reading the rejects file can change.
//
// # Row numbers
//
// A row's number ([Row.Line], [RowError.Line]) is the 1-based physical line of
// the file on which the record starts, counting LF characters, so the header of
// an ordinary file is line 1 and the first data row is line 2. Blank lines and
// line breaks inside quoted fields count, so the number is the line an editor
// shows, not the index of the record.
//
// # Memory
//
// Memory does not grow with the file: the reader holds one record at a time,
// and a record is never larger than [Options.MaxRowBytes] (bytes past the
// limit are skipped and the row is rejected) nor wider than
// [Options.MaxColumns]+1 fields. A file larger than [Options.MaxBytes] is
// refused with [ErrTooLarge] when reading reaches the limit.
package recipients
