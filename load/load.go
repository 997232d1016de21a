// Package load diffs a model against the snapshot of what was last pushed
// and sends only the changes to a destination, recording a result for
// every row and advancing the snapshot only for rows the destination
// accepted.
//
// The stages live in their own files: spec.go (what a sync asks),
// destination.go (the contract a connector implements), plan.go (checks
// and the diff), apply.go (sending in batches), record.go (outcomes into
// the file).
package load
