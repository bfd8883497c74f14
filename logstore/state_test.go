package logstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPackageLevelMutableState fails when a non-test file of logstore or
// its subpackages declares a package-level variable other than the immutable
// ones listed here (sentinel errors, lookup tables (CRC-32C's, the folding
// keys), what the CPU can do, the stateless OS filesystem, interface
// assertions). Counters, pools, codecs and caches
// belong to whoever owns them: a Log, a job, the BlockCache.
func TestNoPackageLevelMutableState(t *testing.T) {
	allowed := map[string]bool{
		"ErrCorruption": true, "ErrFailed": true, "ErrKeyOffsetMapFull": true, "ErrGroupCommitterClosed": true,
		"errCleanJobAbandoned": true, "errNotExist": true, "crc32c": true, "foldKeys": true, "canFold": true,
		"ErrCrashed": true, "OS": true, "_": true,
		"ErrDecompressedTooLarge": true, "errMalformedXerial": true,
		"ErrInconsistentTopicID": true, "ErrPartitionMetadata": true,
	}
	for _, dir := range []string{".", "vfs", "blockcache"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range f.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.VAR {
					continue
				}
				for _, spec := range gen.Specs {
					for _, id := range spec.(*ast.ValueSpec).Names {
						if !allowed[id.Name] {
							t.Errorf("%s: package-level variable %s: give it an owner (a Log, a job, the cache)", name, id.Name)
						}
					}
				}
			}
		}
	}
}
