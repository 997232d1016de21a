package models

import "fmt"

// FileError is a mistake in a project's model or test file, found before
// anything runs: the CLI exits 3 (fix the project) for it.
type FileError struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
