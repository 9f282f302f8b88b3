package enqueue

// BytesPerRecipient is what one pending recipient costs Redis, as
// measured by benchmark figure 6 (INFO used_memory delta per recipient of
// a 200,000- and a 1,000,000-row campaign, 3 columns and a personalised
// text of about 40 characters; see BENCHMARKS.md): its share of a chunk
// task and its compact record. Estimates of a campaign's Redis footprint
// start from it; re-measure it when what is stored per recipient changes.
const BytesPerRecipient = 204
