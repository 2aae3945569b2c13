package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTempFilesRemovedOnSignal: what the signal handler in main removes
// is every temporary output not yet renamed into place.
func TestTempFilesRemovedOnSignal(t *testing.T) {
	dir := t.TempDir()
	f, name, err := createTemp(dir, "out", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(name) != dir {
		t.Fatalf("temporary file %s: %v %v", name, fi, err)
	}
	removeTempFiles()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("the temporary file survived: %v", err)
	}
	forgetTempFile(name)
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	a := newApp(nil, nil, nil)
	p := filepath.Join(dir, "out")
	for _, content := range []string{"first", "second, longer"} {
		if err := a.writeFileAtomic(p, []byte(content), 0o644, "test"); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Fatalf("content %q, want %q", b, content)
		}
	}
	if err := a.writeFileAtomic(dir, []byte("x"), 0o644, "test"); err == nil {
		t.Error("a directory was replaced")
	}
	noTempFiles(t, dir)
	tempMu.Lock()
	n := len(tempFiles)
	tempMu.Unlock()
	if n != 0 {
		t.Errorf("%d temporary files still registered", n)
	}
}
