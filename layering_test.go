package gregor

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The layers of DESIGN.md, outermost first. A package may import packages of a
// later layer, never of its own or an earlier one, except its own folder.
var layers = [][]string{
	{"cmd"},
	{"actors"},
	{"sim"},
	{"netio", "cluster", "groups", "txn"},
	{"logstore"},
}

// topFolder is the first path element of a gregor package ("" for the root).
func topFolder(pkg string) string {
	rest := strings.TrimPrefix(pkg, "gregor")
	rest = strings.TrimPrefix(rest, "/")
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func layerOf(top string) int {
	for i, l := range layers {
		for _, name := range l {
			if name == top {
				return i
			}
		}
	}
	return -1
}

// importRule returns why pkg may not import imp, or "" if it may.
func importRule(pkg, imp string) string {
	top := topFolder(pkg)
	switch {
	case strings.HasPrefix(imp, "github.com/asynkron/protoactor-go"):
		if top != "actors" {
			return "protoactor-go is imported only under actors/"
		}
	case strings.HasPrefix(imp, "github.com/hashicorp/serf"), strings.HasPrefix(imp, "github.com/hashicorp/memberlist"):
		if top != "cluster" || pkg == "gregor/cluster" {
			return "serf and memberlist are imported only in a subpackage of cluster/"
		}
	case strings.HasPrefix(imp, "github.com/dgraph-io/ristretto"):
		if top != "logstore" || pkg == "gregor/logstore" {
			return "ristretto is imported only in a subpackage of logstore/"
		}
	}
	if imp != "gregor" && !strings.HasPrefix(imp, "gregor/") {
		return ""
	}
	impTop := topFolder(imp)
	if impTop == top {
		return ""
	}
	switch {
	case top == "netio":
		return "netio imports nothing of gregor"
	case impTop == "sim" && top != "cmd":
		return "nothing but the gregor command imports sim"
	case top == "sim" && (impTop == "actors" || impTop == "netio"):
		return "sim never imports actors or netio"
	}
	from, to := layerOf(top), layerOf(impTop)
	if from < 0 || to < 0 {
		return "folder not in the layer list of DESIGN.md"
	}
	if to <= from {
		return "imports point one way: cmd → actors → netio, cluster, groups, txn → logstore"
	}
	return ""
}

func TestImportLayering(t *testing.T) {
	var violations []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "data") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		pkg := "gregor"
		if path != "." {
			pkg += "/" + filepath.ToSlash(path)
		}
		all := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if why := importRule(pkg, imp); why != "" {
				violations = append(violations, pkg+" imports "+imp+": "+why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
}

func TestImportRuleCatchesViolations(t *testing.T) {
	bad := [][2]string{
		{"gregor/logstore", "gregor/cluster"},
		{"gregor/cluster", "gregor/actors"},
		{"gregor/netio", "gregor/logstore"},
		{"gregor/cluster", "gregor/groups"},
		{"gregor/actors", "gregor/sim"},
		{"gregor/sim", "gregor/actors"},
		{"gregor/cluster", "github.com/asynkron/protoactor-go/actor"},
		{"gregor/cluster", "github.com/hashicorp/serf/serf"},
		{"gregor/logstore", "github.com/dgraph-io/ristretto/v2"},
	}
	for _, c := range bad {
		if importRule(c[0], c[1]) == "" {
			t.Errorf("%s importing %s was allowed", c[0], c[1])
		}
	}
	good := [][2]string{
		{"gregor/cmd/gregor", "gregor/actors"},
		{"gregor/cmd/gregor", "gregor/sim"},
		{"gregor/actors", "github.com/asynkron/protoactor-go/actor"},
		{"gregor/cluster/gossip", "github.com/hashicorp/serf/serf"},
		{"gregor/logstore/blockcache", "github.com/dgraph-io/ristretto/v2"},
		{"gregor/cluster", "gregor/logstore"},
		{"gregor/logstore", "gregor/logstore/vfs"},
		{"gregor/sim", "gregor/cluster"},
	}
	for _, c := range good {
		if why := importRule(c[0], c[1]); why != "" {
			t.Errorf("%s importing %s was refused: %s", c[0], c[1], why)
		}
	}
}
