package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// playWithPage plays a run with its page, and returns the world (for what
// the page must show), the report and the page.
func playWithPage(opts Options) (*World, *Report, []byte) {
	var page bytes.Buffer
	opts.HTML = &page
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	rep := w.finalReport()
	return w, rep, page.Bytes()
}

// TestHTMLPageSameRun: a run with its page plays as one without (the
// recorder only reads), and the page is self-contained.
func TestHTMLPageSameRun(t *testing.T) {
	_, rep, page := playWithPage(Options{Seed: 1, DurationMs: 20_000})
	plain := Run(Options{Seed: 1, DurationMs: 20_000})
	if rep.HTMLErr != nil {
		t.Fatal(rep.HTMLErr)
	}
	if rep.TraceHash != plain.TraceHash || rep.Events != plain.Events {
		t.Errorf("the run with a page differs: %d events %s, without %d events %s", rep.Events, rep.TraceHash, plain.Events, plain.TraceHash)
	}
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if i := bytes.Index(page, []byte(bad)); i >= 0 && bad != "http://" {
			t.Errorf("the page refers outside itself (%q): %s", bad, page[max(0, i-40):min(len(page), i+40)])
		}
	}
	// The only http:// is the SVG namespace.
	if n, ns := bytes.Count(page, []byte("http://")), bytes.Count(page, []byte("http://www.w3.org/2000/svg")); n != ns {
		t.Errorf("the page names %d URLs beside the SVG namespace", n-ns)
	}
}

// chromium is Debian's chromium (make testdeps installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("this test opens the simulator's page in a real browser and needs Debian's chromium: " +
		"run `make testdeps` (.ci/install-test-deps installs it) or `apt-get install chromium`")
	return ""
}

// dumpDOM opens a page in headless chromium and returns the DOM its script
// built.
func dumpDOM(t *testing.T, browser string, page []byte) string {
	dir := t.TempDir()
	file := filepath.Join(dir, "run.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --dump-dom: %v\n%s", browser, err, stderr.String())
	}
	dom := string(out)
	if m := regexp.MustCompile(`data-error="([^"]*)"`).FindStringSubmatch(dom); m != nil {
		t.Fatalf("the page's script failed: %s", m[1])
	}
	if !regexp.MustCompile(`<body[^>]* data-rendered="ok"`).MatchString(dom) {
		t.Fatalf("the page did not render (no data-rendered on its body):\n%.2000s", dom)
	}
	return dom
}

// TestHTMLPageInBrowser opens the pages of a run with faults and of a run
// with a violation in headless chromium, and checks that the DOM the
// page's script drew shows the run's partitions (a panel with their
// leader, ISR, offsets and sends) and every fault as a span, and the
// violation with what led to it.
func TestHTMLPageInBrowser(t *testing.T) {
	browser := chromium(t)
	w, rep, page := playWithPage(Options{Seed: 2, DurationMs: 30_000})
	if rep.Failed() || len(w.rec.Spans) < 4 || len(w.rec.Parts) < 2 {
		t.Fatalf("seed 2 no longer plays a run with faults on several partitions: %d spans, %d partitions, %v", len(w.rec.Spans), len(w.rec.Parts), rep.Violations)
	}
	dom := dumpDOM(t, browser, page)
	kinds := map[string]bool{}
	for _, s := range w.rec.Spans {
		kinds[s.Kind] = true
		want := fmt.Sprintf(`class="fault" data-kind="%s" data-subject="%s"`, s.Kind, s.Subject)
		if !strings.Contains(dom, want) {
			t.Errorf("the page shows no %s span on %s (%s at %s)", s.Kind, s.Subject, s.Label, fmtMs(s.FromMs))
		}
	}
	if !kinds["down"] {
		t.Errorf("seed 1 crashes no node any more: pick a seed that does")
	}
	for _, p := range w.rec.Parts {
		panel := regexp.MustCompile(`<div class="panel[^"]*" id="p-` + regexp.QuoteMeta(p.TP) + `" data-tp="` + regexp.QuoteMeta(p.TP) + `"><h3>partition ` + regexp.QuoteMeta(p.TP) + `: `)
		if !panel.MatchString(dom) {
			t.Errorf("the page has no panel for partition %s", p.TP)
		}
		if !strings.Contains(dom, `<svg width="`) || !strings.Contains(dom, `data-tp="`+p.TP+`"`) {
			t.Errorf("the page draws no timeline for %s", p.TP)
		}
	}
	for _, want := range []string{`class="leader"`, `class="isr"`, `class="hw"`, `class="leo"`, `class="send ok"`, `class="mark" data-kind="election"`,
		`class="mark" data-kind="commit"`, `Fault schedule`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(dom, `id="violation-box"`) {
		t.Errorf("a run without violation shows one")
	}

	_, bad, page := playWithPage(Options{Seed: 6, DurationMs: 30_000, Plant: PlantSkipTruncation})
	if !bad.Failed() {
		t.Fatalf("seed 6 with skip-truncation no longer fails")
	}
	dom = dumpDOM(t, browser, page)
	v := bad.Violations[0]
	for _, want := range []string{`id="violation-box" data-check="` + v.Check + `"`, `class="mark" data-kind="violation"`, `<ol class="led"><li>`,
		`<tr class="viol led">`, `class="panel bad"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page of a violation lacks %s", want)
		}
	}
}
