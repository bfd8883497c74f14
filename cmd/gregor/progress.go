package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBarWidth is the number of cells in the bar.
const progressBarWidth = 30

// progressInterval is how often the bar is redrawn.
const progressInterval = 200 * time.Millisecond

// progressLine draws one state of the bar: records and bytes done out of
// total records (0 when the total is unknown) after elapsed.
func progressLine(done, total, doneBytes int64, elapsed time.Duration) string {
	seconds := max(elapsed.Seconds(), 1e-9)
	rates := fmt.Sprintf("%.0f rec/s  %.2f MiB/s  %.1fs", float64(done)/seconds, float64(doneBytes)/seconds/(1<<20), elapsed.Seconds())
	if total <= 0 {
		return fmt.Sprintf("%d rec  %s", done, rates)
	}
	fraction := min(float64(done)/float64(total), 1)
	filled := int(fraction * progressBarWidth)
	bar := strings.Repeat("=", filled)
	if filled < progressBarWidth {
		bar += ">" + strings.Repeat(" ", progressBarWidth-filled-1)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %d/%d rec  %s", bar, fraction*100, done, total, rates)
}

// progressReporter redraws a progress line on w (a terminal's stderr) every
// progressInterval until stopped.
type progressReporter struct {
	w        io.Writer
	total    int64
	counters func() (records, bytes int64)
	started  time.Time
	stopCh   chan struct{}
	wg       sync.WaitGroup
	width    int // length of the last line drawn, to blank it on redraw
}

// startProgress starts drawing; counters is called from the drawing
// goroutine and must be safe for that.
func startProgress(w io.Writer, total int64, counters func() (int64, int64)) *progressReporter {
	p := &progressReporter{w: w, total: total, counters: counters, started: time.Now(), stopCh: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ticker := time.NewTicker(progressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-p.stopCh:
				return
			case <-ticker.C:
				p.draw()
			}
		}
	}()
	return p
}

// draw writes the current line over the previous one.
func (p *progressReporter) draw() {
	records, bytes := p.counters()
	line := progressLine(records, p.total, bytes, time.Since(p.started))
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// stop draws the final state, ends the line and waits for the goroutine.
func (p *progressReporter) stop() {
	close(p.stopCh)
	p.wg.Wait()
	p.draw()
	fmt.Fprintln(p.w)
}
