package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Terminal shares one terminal between a progress line and everything else
// written to it: a message clears the line first, and the next tick draws
// it again, so the two never interleave.
type Terminal struct {
	mu      sync.Mutex
	w       io.Writer
	drawn   bool
	samples []sample // recent (time, done) for the rate
}

type sample struct {
	t    time.Time
	done uint64
}

// NewTerminal returns a Terminal drawing on w.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Printf writes a message above the progress line.
func (t *Terminal) Printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
	fmt.Fprintf(t.w, format, args...)
}

// Do runs f with the progress line cleared, for writes to another stream
// that shows on the same terminal.
func (t *Terminal) Do(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
	f()
}

// Clear removes the progress line.
func (t *Terminal) Clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
}

func (t *Terminal) clearLocked() {
	if t.drawn {
		fmt.Fprint(t.w, "\r\x1b[K")
		t.drawn = false
	}
}

// Status is what the progress line shows.
type Status struct {
	Done, Total, Open, Findings uint64
}

// Draw redraws the progress line: how far, how fast, and how long to go.
func (t *Terminal) Draw(now time.Time, s Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, sample{now, s.Done})
	for len(t.samples) > 2 && now.Sub(t.samples[0].t) > 5*time.Second {
		t.samples = t.samples[1:]
	}
	t.clearLocked()
	fmt.Fprint(t.w, ProgressLine(s, t.rate(), 80))
	t.drawn = true
}

func (t *Terminal) rate() float64 {
	if len(t.samples) < 2 {
		return 0
	}
	a, b := t.samples[0], t.samples[len(t.samples)-1]
	dt := b.t.Sub(a.t).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(b.done-a.done) / dt
}

// ProgressLine renders a status in at most width columns:
//
//	[#####...........] 35.2% 45,678/129,540 8,123/s ETA 0:10 · 2 open · 1 finding
func ProgressLine(s Status, rate float64, width int) string {
	frac := 0.0
	if s.Total > 0 {
		frac = min(float64(s.Done)/float64(s.Total), 1)
	}
	const barLen = 16
	n := int(frac * barLen)
	var b strings.Builder
	b.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(".", barLen-n) + "]")
	fmt.Fprintf(&b, " %.1f%% %s/%s %s/s", frac*100, count(int64(s.Done)), count(int64(s.Total)), count(int64(rate)))
	if rate > 0 && s.Total > s.Done {
		eta := time.Duration(float64(s.Total-s.Done) / rate * float64(time.Second))
		fmt.Fprintf(&b, " ETA %s", clock(eta))
	}
	fmt.Fprintf(&b, " · %d open · %d finding", s.Open, s.Findings)
	if s.Findings != 1 {
		b.WriteString("s")
	}
	line := b.String()
	if len(line) > width {
		line = line[:width]
	}
	return line
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}
