package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain keeps every test, and every command a test runs, away from the
// user's own fingerprint key: the config directory is a temporary one.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leakhound-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Unsetenv("LEAKHOUND_FINGERPRINT_KEY")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func classifyCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runClassify(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func fingerprints(t *testing.T, jsonl string) []string {
	t.Helper()
	var fps []string
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var d struct{ Fingerprint string }
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		fps = append(fps, d.Fingerprint)
	}
	return fps
}

func TestClassifyFingerprintKey(t *testing.T) {
	const in = "card 4526 0181 5908 3012 exp 12/29\n"
	key := strings.Repeat("5a", 32)
	code, out, errOut := classifyCLI(t, in, "-f", "jsonl", "--fingerprint-key", key, "-")
	if code != exitFindings {
		t.Fatalf("classify --fingerprint-key = %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	a := fingerprints(t, out)
	// The same key through the environment, as on another machine.
	t.Setenv("LEAKHOUND_FINGERPRINT_KEY", key)
	_, out, _ = classifyCLI(t, in, "-f", "jsonl", "-")
	if b := fingerprints(t, out); len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Errorf("fingerprints %v with --fingerprint-key, %v with the environment: want one, equal", a, b)
	}
	_, out, _ = classifyCLI(t, in, "-f", "jsonl", "--fingerprint-key", strings.Repeat("a5", 32), "-")
	if c := fingerprints(t, out); len(c) != 1 || c[0] == a[0] {
		t.Errorf("another key gave fingerprints %v, want one unlike %v", c, a)
	}
	code, _, errOut = classifyCLI(t, in, "--fingerprint-key", "0123", "-")
	if code != exitError || !strings.Contains(errOut, "--fingerprint-key") || !strings.Contains(errOut, "at least 16") {
		t.Errorf("a short key: exit %d, stderr %q; want %d and an error naming the flag", code, errOut, exitError)
	}
}

func TestClassifyMakesAKeyOnFirstUse(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	const in = "mail li.wei88@qq.com\n"
	_, out1, err1 := classifyCLI(t, in, "-f", "jsonl", "-")
	_, out2, err2 := classifyCLI(t, in, "-f", "jsonl", "-")
	path := filepath.Join(dir, "leakhound", "fingerprint.key")
	if !strings.Contains(err1, path) || strings.Contains(err2, path) {
		t.Errorf("stderr of the first run %q, of the second %q: want %s named once", err1, err2, path)
	}
	if a, b := fingerprints(t, out1), fingerprints(t, out2); len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Errorf("fingerprints of two runs %v, %v: want one, equal", a, b)
	}
}

// TestClassifyStdinStopsOnSignal: "leakhound classify -" reading a pipe
// that never closes stops on SIGINT or SIGTERM, with status 2.
func TestClassifyStdinStopsOnSignal(t *testing.T) {
	bin := buildLeakhound(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "classify", "-")
			cmd.Env = append(os.Environ(), "LEAKHOUND_FINGERPRINT_KEY="+strings.Repeat("5a", 32))
			w, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// A pipe holds 64 KB: once 2 MB are written the command has
			// been reading for a while, its signal handler long in place.
			line := []byte(strings.Repeat("nothing to see here ", 50) + "\n")
			for range 2 << 20 / len(line) {
				if _, err := w.Write(line); err != nil {
					t.Fatalf("writing to the command: %v (stderr %s)", err, stderr.String())
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitError {
					t.Errorf("after %v: %v, want exit status %d; stderr %s", sig, err, exitError, stderr.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still reading 20 s after %v", sig)
			}
		})
	}
}

// failingWriter fails every write, as a full disk or a closed pipe does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// Detections that cannot be written end the command with an error, not
// with "something detected" and nothing written.
func TestClassifyWriteErrorIsAnError(t *testing.T) {
	for _, format := range []string{"jsonl", "text"} {
		var errOut bytes.Buffer
		in := strings.Repeat("contact zhang.wei88@163.com\n", 5000)
		code := runClassify(context.Background(), []string{"-f", format, "--fingerprint-key", strings.Repeat("ab", 32), "-"},
			strings.NewReader(in), failingWriter{}, &errOut)
		if code != exitError || !strings.Contains(errOut.String(), "no space left on device") {
			t.Errorf("classify -f %s to a failing writer = exit %d, stderr %q; want exit %d naming the write error", format, code, errOut.String(), exitError)
		}
	}
}
