// Package logbuf is a bytes.Buffer that several goroutines may write to at
// once: the sink for a logger or a child process's output that a test or a
// report reads afterwards.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent Write, String and Len. The zero value is
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len returns the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
