package enqueue

// BytesPerRecipient is what one pending recipient costs Redis, as
// measured by benchmark figure 6 (INFO used_memory delta per recipient of
// a 200,000- and a 1,000,000-row campaign, 3 columns and a personalised
// text of about 40 characters; see BENCHMARKS.md): its share of a chunk
// task and its compact record. Re-measure it when what is stored per
// recipient changes.
const BytesPerRecipient = 204

// UploadBytesPerRecipient is what one recipient costs Redis while its
// upload runs: BytesPerRecipient plus its member of the upload's set of
// recipients seen (keyspace Campaign.Run, freed when the upload ends). The
// 10,000,000-row figure measured 298 B with that set still held. An
// upload's Redis footprint is estimated from it (room.go), so a campaign
// is refused before the peak, not after. Longer messages cost more: an
// upload the estimate lets through can still fill Redis, and then stops
// cleanly (RedisFullError).
const UploadBytesPerRecipient = 300
