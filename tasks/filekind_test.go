package tasks

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A CHILD that is not a directory is named in words: a symlink used to be
// reported as `"link" is a L---------`.
func TestNotADirectoryMessageNamesTheKind(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{link: "a symbolic link", file: "a regular file"} {
		info, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileKind(info.Mode()); got != want {
			t.Errorf("fileKind(%s) = %q, want %q", info.Mode(), got, want)
		}
	}
	if got := fileKind(fs.ModeNamedPipe); got != "a named pipe" {
		t.Errorf("fileKind(pipe) = %q", got)
	}
}
