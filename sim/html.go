package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The run's page (Options.HTML): a recorder follows the run when a page is
// asked for, and the page is one self-contained HTML file (inline CSS,
// SVG drawn by an inline script from the run's data as JSON) that needs no
// network to open. Recording reads state and schedules nothing, so a run
// with a page plays exactly as one without.

// htmlSampleEveryMs is how often the partitions' leader, ISR, high
// watermark and log end offsets are sampled (a sample is kept only when it
// differs from the one before).
const htmlSampleEveryMs = 100

// recorder collects what the page shows. Its methods do nothing on a nil
// recorder (a run without a page).
type recorder struct {
	Lines []recLine       `json:"lines"`
	Spans []*recSpan      `json:"spans"`
	Marks []recMark       `json:"marks"`
	Parts []*recPartition `json:"partitions"`

	open         map[string]*recSpan
	byTP         map[tpKey]*recPartition
	nextSampleMs int64
}

// recLine is a line of the readable timeline.
type recLine struct {
	AtMs int64  `json:"t"`
	Text string `json:"text"`
}

// recSpan is a fault that lasts: Kind (down, paused, partition, link,
// client-cut, disk, starve, clock), on Subject (a node, the network, a
// link, a partition), from FromMs to ToMs (-1 while open). A fault without
// duration (a clock jump) has ToMs == FromMs.
type recSpan struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Label   string `json:"label"`
	FromMs  int64  `json:"from"`
	ToMs    int64  `json:"to"`
}

// recMark is an instant worth a mark: an election, an ISR change, a
// truncation, a data loss, a replica offline, a transaction marker
// written (commit or abort; all of partition TP), a controller change, a
// violation.
type recMark struct {
	AtMs  int64  `json:"t"`
	Kind  string `json:"kind"`
	TP    string `json:"tp,omitempty"`
	Label string `json:"label"`
}

// recPartition is one partition's samples.
type recPartition struct {
	TP      string      `json:"tp"`
	Samples []recSample `json:"samples"`
}

// recSample is a partition's state at AtMs: as the newest metadata image
// has it (leader, epoch, replicas, ISR), and as its replicas have it (the
// leader's high watermark, each replica's log end offset, -1 where none
// runs).
type recSample struct {
	AtMs     int64   `json:"t"`
	Leader   int32   `json:"leader"`
	Epoch    int32   `json:"epoch"`
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	HW       int64   `json:"hw"`
	LEO      []int64 `json:"leo"`
}

func newRecorder() *recorder {
	return &recorder{open: map[string]*recSpan{}, byTP: map[tpKey]*recPartition{}}
}

func (r *recorder) line(atMs int64, text string) {
	if r != nil {
		r.Lines = append(r.Lines, recLine{AtMs: atMs, Text: text})
	}
}

// begin opens a fault span of kind on subject; a span of the same kind
// and subject still open is closed first.
func (r *recorder) begin(atMs int64, kind, subject, label string) {
	if r == nil {
		return
	}
	r.end(atMs, kind, subject)
	s := &recSpan{Kind: kind, Subject: subject, Label: label, FromMs: atMs, ToMs: -1}
	r.Spans = append(r.Spans, s)
	r.open[kind+" "+subject] = s
}

// span records a fault whose end is known already.
func (r *recorder) span(fromMs, toMs int64, kind, subject, label string) {
	if r != nil {
		r.Spans = append(r.Spans, &recSpan{Kind: kind, Subject: subject, Label: label, FromMs: fromMs, ToMs: toMs})
	}
}

func (r *recorder) end(atMs int64, kind, subject string) {
	if r == nil {
		return
	}
	if s := r.open[kind+" "+subject]; s != nil {
		s.ToMs = atMs
		delete(r.open, kind+" "+subject)
	}
}

// endAll closes every open span of the kinds given (all when none).
func (r *recorder) endAll(atMs int64, kinds ...string) {
	if r == nil {
		return
	}
	for _, s := range r.Spans {
		if s.ToMs < 0 && (len(kinds) == 0 || slices.Contains(kinds, s.Kind)) {
			r.end(atMs, s.Kind, s.Subject)
		}
	}
}

func (r *recorder) mark(atMs int64, kind string, tp *tpKey, format string, args ...any) {
	if r == nil {
		return
	}
	m := recMark{AtMs: atMs, Kind: kind, Label: fmt.Sprintf(format, args...)}
	if tp != nil {
		m.TP = tp.String()
	}
	r.Marks = append(r.Marks, m)
}

// maybeSample samples every partition when a sampling interval passed.
func (r *recorder) maybeSample(w *World) {
	if r == nil || w.now < r.nextSampleMs {
		return
	}
	r.nextSampleMs = w.now + htmlSampleEveryMs
	r.sample(w)
}

// sample records every partition's state, from the newest image any
// running node applied.
func (r *recorder) sample(w *World) {
	var img *node
	for _, n := range w.nodes {
		if n.up && (img == nil || n.image.Epoch > img.image.Epoch) {
			img = n
		}
	}
	if img == nil {
		return
	}
	for t := range img.image.Topics() {
		for _, p := range t.Partitions {
			k := tpKey{t.Name, p.Partition}
			rp := r.byTP[k]
			if rp == nil {
				rp = &recPartition{TP: k.String()}
				r.byTP[k] = rp
				r.Parts = append(r.Parts, rp)
			}
			s := recSample{AtMs: w.now, Leader: p.Leader, Epoch: p.LeaderEpoch, Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR), HW: -1}
			for _, id := range p.Replicas {
				leo := int64(-1)
				if id >= 1 && int(id) <= len(w.nodes) {
					n := w.node(id)
					if h := n.replicas[k]; n.up && h != nil && h.core != nil {
						leo = h.core.LogEndOffset()
						if id == p.Leader && h.core.IsLeader() {
							s.HW = h.core.HighWatermark()
						}
					}
				}
				s.LEO = append(s.LEO, leo)
			}
			if len(rp.Samples) > 0 && sameSample(rp.Samples[len(rp.Samples)-1], s) {
				continue
			}
			rp.Samples = append(rp.Samples, s)
		}
	}
}

func sameSample(a, b recSample) bool {
	return a.Leader == b.Leader && a.Epoch == b.Epoch && a.HW == b.HW && slices.Equal(a.Replicas, b.Replicas) &&
		slices.Equal(a.ISR, b.ISR) && slices.Equal(a.LEO, b.LEO)
}

// pageData is everything the page's script draws.
type pageData struct {
	Title      string         `json:"title"`
	Summary    string         `json:"summary"`
	Nodes      []string       `json:"nodes"`
	EndMs      int64          `json:"end"`
	FaultEndMs int64          `json:"faultEnd"`
	Violation  *pageViolation `json:"violation"`
	Schedule   []FaultEvent   `json:"schedule"`
	Ops        []pageSend     `json:"sends"`
	Polls      []pagePoll     `json:"polls"`
	Rec        *recorder      `json:"rec"`
	Losses     []string       `json:"losses"`
}

// pageViolation is the first violation, the partition it names (if one)
// and the timeline lines that led to it (indexes into Rec.Lines).
type pageViolation struct {
	Check  string `json:"check"`
	AtMs   int64  `json:"t"`
	Detail string `json:"detail"`
	TP     string `json:"tp"`
	Led    []int  `json:"led"`
}

type pageSend struct {
	TP       string `json:"tp"`
	Client   string `json:"c"`
	InvokeMs int64  `json:"s"`
	DoneMs   int64  `json:"d"`
	Outcome  string `json:"o"`
	Offset   int64  `json:"off"`
	Acks     int16  `json:"acks"`
	Value    string `json:"v"`
}

type pagePoll struct {
	TP     string `json:"tp"`
	Client string `json:"c"`
	AtMs   int64  `json:"t"`
	From   int64  `json:"from"`
	Count  int    `json:"n"`
}

// ledLines is how many timeline lines before a violation the page shows as
// what led to it: every fault, and every line that names its partition.
const ledLines = 40

// writeHTML writes the run's page.
func (w *World) writeHTML(out io.Writer, rep *Report) error {
	r := w.rec
	r.endAll(w.now)
	r.sample(w)
	d := pageData{
		Title:   fmt.Sprintf("gregor sim: seed %d, %d nodes, plant %s", rep.Seed, rep.Nodes, rep.Plant),
		Summary: rep.Summary(), EndMs: w.now, FaultEndMs: min(w.opts.DurationMs, w.now), Rec: r,
		Schedule: w.faultLog, Losses: rep.Losses,
	}
	if d.Summary == "" {
		d.Summary = "(scenario)"
	}
	for _, n := range w.nodes {
		d.Nodes = append(d.Nodes, n.name())
	}
	for _, s := range w.hist.sends {
		d.Ops = append(d.Ops, pageSend{TP: s.tp.String(), Client: endpointName(s.process), InvokeMs: s.invokeMs, DoneMs: s.doneMs,
			Outcome: s.outcome.String(), Offset: s.offset, Acks: s.acks, Value: s.value})
	}
	for _, p := range w.hist.polls {
		if len(p.records) > 0 {
			d.Polls = append(d.Polls, pagePoll{TP: p.tp.String(), Client: endpointName(p.process), AtMs: p.atMs, From: p.position, Count: len(p.records)})
		}
	}
	if len(rep.Violations) > 0 {
		d.Violation = w.ledTo(rep.Violations[0])
	}
	js, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("page data: %w", err)
	}
	// A script element ends at the first "</": escape every "<" in the data.
	data := strings.ReplaceAll(string(js), "<", `\u003c`)
	page := strings.Replace(pageTemplate, "/*DATA*/null", data, 1)
	page = strings.Replace(page, "<title></title>", "<title>"+htmlEscape(d.Title)+"</title>", 1)
	_, err = io.WriteString(out, page)
	return err
}

// ledTo picks the timeline lines before v that may have led to it.
func (w *World) ledTo(v Violation) *pageViolation {
	pv := &pageViolation{Check: v.Check, AtMs: v.AtMs, Detail: v.Detail}
	for _, p := range w.rec.Parts {
		if strings.Contains(v.Detail, p.TP+":") || strings.Contains(v.Detail, p.TP+" ") || strings.HasSuffix(v.Detail, p.TP) {
			pv.TP = p.TP
			break
		}
	}
	lines := w.rec.Lines
	end := len(lines)
	for end > 0 && !strings.HasPrefix(lines[end-1].Text, "VIOLATION") {
		end--
	}
	for i := end - 1; i >= 0 && len(pv.Led) < ledLines; i-- {
		t := lines[i].Text
		if strings.HasPrefix(t, "VIOLATION") || strings.HasPrefix(t, "fault:") || strings.Contains(t, "controller:") ||
			(pv.TP != "" && strings.Contains(t, pv.TP+" ")) || (pv.TP != "" && strings.Contains(t, pv.TP+":")) {
			pv.Led = append(pv.Led, i)
		}
	}
	slices.Reverse(pv.Led)
	return pv
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
