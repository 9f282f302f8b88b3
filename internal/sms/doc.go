// Package sms measures SMS text the way the network carries it: which
// encoding a message needs (GSM-7 or UCS-2), how many septets or UTF-16
// code units it takes, and how many concatenated segments it is split into
// (3GPP TS 23.038 for the alphabet, TS 23.040 for concatenation). It also
// offers GSMSafe, which swaps typographic characters for GSM-7 ones, and
// aggregators (Totals, Cost) that parallel workers fill and merge for the
// enqueue summary.
//
// The package is pure: no I/O besides the io.Reader handed to ParsePrices,
// and Measure does not allocate for all-GSM text, so it can run per row on
// multi-million-row uploads.
package sms
