package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressMin is the smallest known size worth a progress bar: below it
// the work ends before a bar would be read.
const progressMin = 4 << 20

// progress draws a one-line bar on stderr while a large input is read or an
// output written. It exists only when stderr is a terminal, so pipes, logs
// and tests never see control characters. The zero value (and nil) draws
// nothing. It is an io.Writer counting the bytes written to it.
type progress struct {
	w     io.Writer
	label string
	total int64 // -1: unknown (a pipe)
	done  int64
	last  time.Time
	drawn bool
}

func (a *app) newProgress(label string, total int64) *progress {
	if !a.isTerminal(a.stderr) || (total >= 0 && total < progressMin) {
		return nil
	}
	return &progress{w: a.stderr, label: label, total: total, last: time.Now()}
}

func (p *progress) Write(b []byte) (int, error) {
	if p == nil {
		return len(b), nil
	}
	p.done += int64(len(b))
	// Redraw at most ten times a second, and only once the work has
	// lasted long enough to be worth a bar.
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	const width = 30
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r\x1b[Kkeyhold: %s %s", p.label, mib(p.done))
	} else {
		filled := int(min(p.done, p.total) * width / p.total)
		fmt.Fprintf(p.w, "\r\x1b[Kkeyhold: %s [%s%s] %s / %s %3d%%", p.label,
			strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
			mib(p.done), mib(p.total), min(p.done, p.total)*100/p.total)
	}
	p.drawn = true
}

// finish erases the bar, so the error or result lines that follow start
// on a clean line.
func (p *progress) finish() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
