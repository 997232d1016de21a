//go:build unix

package main

import "syscall"

// privateFiles makes every file the process creates (the DuckDB file and
// its write-ahead log, a published copy, the report, DuckDB's spill files)
// readable by its owner only; file_mode in backflow.yml opens the data
// files up afterwards.
func privateFiles() { syscall.Umask(0o077) }
