package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests need no lab: the addresses they name listen on nothing.

// A target list with a line over 64 KiB once ended at that line: every
// later target was dropped, and the scan exited 0.
func TestScanReportsALongListLineAndGoesOn(t *testing.T) {
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("127.0.29.1\n"+strings.Repeat("a", 70000)+"\n127.0.29.2\n"), 0o644)
	code, _, stderr := scanCLI(t, "-l", list, "-p", "1", "--no-brute")
	if !strings.Contains(stderr, "list.txt:2: line longer than 64 KiB") {
		t.Errorf("standard error does not name list.txt:2 as too long:\n%s", stderr)
	}
	if !strings.Contains(stderr, "2 targets, 1 skipped, 2 endpoints swept") {
		t.Errorf("summary does not say 2 targets scanned and 1 skipped:\n%s", stderr)
	}
	if code != exitError {
		t.Errorf("exit = %d, want %d: a target was skipped", code, exitError)
	}
}

func TestScanRefusesResumeFilesThatCannotHoldState(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "resume.log")
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(journal, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.log")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"device", []string{"--resume", os.DevNull}, "not a regular file"},
		{"directory", []string{"--resume", dir}, "not a regular file"},
		{"output is the resume file", []string{"--resume", journal, "-o", journal}, "-o " + journal + " is the file of --resume"},
		{"output is a symlink to it", []string{"--resume", journal, "-o", link}, "is the file of --resume"},
		{"open is a hard link to it", []string{"--resume", journal, "--open", hard}, "is the file of --resume"},
		{"open is the output", []string{"--resume", journal, "-o", filepath.Join(dir, "out"), "--open", filepath.Join(dir, "out")}, "is the file of -o"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(journal); err == nil {
				os.Remove(hard)
				if err := os.Link(journal, hard); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(journal)
			code, _, stderr := scanCLI(t, append([]string{"127.0.29.1", "-p", "1", "--seed", "1"}, tt.args...)...)
			if code != exitError || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, standard error %q; want %d and an error containing %q", code, stderr, exitError, tt.want)
			}
			if after, _ := os.ReadFile(journal); len(before) > 0 && string(after) != string(before) {
				t.Errorf("the resume file changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// -o and --open naming a file the scan reads (the target list, the
// exclusions) once emptied it before it was read: the scan saw no
// targets and exited 0, and the list was gone.
func TestScanRefusesToWriteOverWhatItReads(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "targets.txt")
	ex := filepath.Join(dir, "exclude.txt")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"output is the target list", []string{"-l", list, "-o", list}, "is the file of -l"},
		{"open is the exclusions", []string{"127.0.29.1", "--exclude-file", ex, "--open", ex}, "is the file of --exclude-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(list, []byte("127.0.29.1\n127.0.29.2\n"), 0o644)
			os.WriteFile(ex, []byte("127.0.29.9\n"), 0o644)
			code, _, stderr := scanCLI(t, append([]string{"-p", "1", "--no-brute"}, tt.args...)...)
			if code != exitError || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, standard error %q; want %d and an error containing %q", code, stderr, exitError, tt.want)
			}
			if b, _ := os.ReadFile(list); string(b) != "127.0.29.1\n127.0.29.2\n" {
				t.Errorf("the target list is now %q", b)
			}
			if b, _ := os.ReadFile(ex); string(b) != "127.0.29.9\n" {
				t.Errorf("the exclusions are now %q", b)
			}
		})
	}
}
