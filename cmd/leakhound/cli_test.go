package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// These tests need no lab: the addresses they name listen on nothing.

// cli runs "leakhound ARGS..." and returns the exit code, standard output
// and standard error.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// The flags of the releases before cobra, with their short names and
// defaults (README): scripts use them, so none may change.
var scanFlagsBefore = []struct{ name, short, def string }{
	{"ports", "p", ""}, {"format", "f", "text"}, {"output", "o", ""}, {"list", "l", ""},
	{"fail-on", "", "high"}, {"color", "", "auto"}, {"exclude", "", ""}, {"exclude-file", "", ""},
	{"open", "", ""}, {"resume", "", ""}, {"shard", "", ""}, {"seed", "", ""}, {"resolver", "", ""},
	{"wordlist", "w", ""}, {"no-brute", "", "false"}, {"dns-workers", "", "50"}, {"timeout", "", "10s"},
	{"connect-timeout", "", "2s"}, {"retries", "", "1"}, {"server-budget", "", "2m0s"},
	{"concurrency", "", "256"}, {"assess-concurrency", "", "32"}, {"max-memory", "", "1G"},
	{"per-host", "", "8"}, {"rate", "", "2000"}, {"sample-rows", "", "20"}, {"random-rows", "", "100"},
	{"max-read", "", "16777216"}, {"no-sample", "", "false"}, {"fingerprint-key", "", ""},
	{"quiet", "q", "false"}, // -q had no long name; --quiet is new
}

var classifyFlagsBefore = []struct{ name, short, def string }{
	{"format", "f", "text"}, {"fingerprint-key", "", ""},
}

func TestFlagsKeepTheirNamesShortNamesAndDefaults(t *testing.T) {
	var code int
	var b bytes.Buffer
	for _, tt := range []struct {
		fs    *pflag.FlagSet
		flags []struct{ name, short, def string }
	}{
		{newScanCmd(&code, &b, &b).Flags(), scanFlagsBefore},
		{newClassifyCmd(&code, nil, &b, &b).Flags(), classifyFlagsBefore},
	} {
		for _, want := range tt.flags {
			f := tt.fs.Lookup(want.name)
			if f == nil {
				t.Errorf("--%s is gone", want.name)
				continue
			}
			if f.Shorthand != want.short || f.DefValue != want.def {
				t.Errorf("--%s: short -%s, default %q; want -%s, %q", want.name, f.Shorthand, f.DefValue, want.short, want.def)
			}
		}
	}
}

// Help lists the flags by purpose, each once with both its names.
func TestHelpGroupsFlagsByPurpose(t *testing.T) {
	for _, tt := range []struct {
		cmd    string
		groups []string
	}{
		{"scan", []string{"INPUT", "PORTS", "DISCOVERY", "RATE AND TIMEOUTS", "SAMPLING", "DETECTION", "OUTPUT", "RESUME AND SHARDING", "OTHER"}},
		{"classify", []string{"DETECTION", "OUTPUT", "OTHER"}},
	} {
		t.Run(tt.cmd, func(t *testing.T) {
			code, out, errOut := cli(t, tt.cmd, "--help")
			if code != exitClean || errOut != "" {
				t.Fatalf("%s --help = %d, stderr %q", tt.cmd, code, errOut)
			}
			if _, short, _ := cli(t, tt.cmd, "-h"); short != out {
				t.Errorf("%s -h differs from --help", tt.cmd)
			}
			var titles []string
			for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z ]+):$`).FindAllStringSubmatch(out, -1) {
				titles = append(titles, m[1])
			}
			if !slices.Equal(titles, tt.groups) {
				t.Errorf("groups %q, want %q:\n%s", titles, tt.groups, out)
			}
			if !strings.Contains(out, "\n  -f, --format FORMAT ") {
				t.Errorf("help does not show -f, --format FORMAT on one line:\n%s", out)
			}
			flags := tt.cmd == "scan"
			var c int
			var b bytes.Buffer
			fs := newClassifyCmd(&c, nil, &b, &b).Flags()
			if flags {
				fs = newScanCmd(&c, &b, &b).Flags()
			}
			fs.VisitAll(func(f *pflag.Flag) {
				if n := len(regexp.MustCompile(`(?m)^  (-\w, )?\s*--`+regexp.QuoteMeta(f.Name)+`( |$)`).FindAllString(out, -1)); n != 1 {
					t.Errorf("--%s is listed %d times, want once", f.Name, n)
				}
			})
		})
	}
	code, _, errOut := cli(t, "scan", "-h")
	if code != exitClean || errOut != "" {
		t.Errorf("scan -h = %d, %q", code, errOut)
	}
}

// A flag defined outside the groups is still in help, under OTHER.
func TestHelpListsUngroupedFlagsUnderOther(t *testing.T) {
	var code int
	var b bytes.Buffer
	cmd := newScanCmd(&code, &b, &b)
	cmd.Flags().Bool("lonely", false, "a flag no group holds")
	var out bytes.Buffer
	cmd.SetOut(&out)
	if err := cmd.Usage(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if i, j := strings.Index(s, "\nOTHER:\n"), strings.Index(s, "--lonely"); i < 0 || j < i {
		t.Errorf("--lonely not under OTHER:\n%s", s)
	}
}

// Flags may come before, between and after the targets, as with Go's
// flag package before: "leakhound scan 127.0.0.2 -p 8123 -f jsonl".
func TestScanFlagsBetweenTargets(t *testing.T) {
	code, stdout, stderr := scanCLI(t, "127.0.29.1", "-p", "1", "--no-brute", "127.0.29.2", "-f", "jsonl", "--seed", "7", "--", "127.0.29.3")
	if code != exitClean || stdout != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing found", code, stdout, exitClean)
	}
	if !strings.Contains(stderr, "3 targets, 3 endpoints swept") || !strings.Contains(stderr, "seed 0x7") {
		t.Errorf("summary does not count 3 targets on port 1 with seed 7:\n%s", stderr)
	}
}

// Go's flag package read "-timeout 5s" and "--q"; they mean what they
// meant.
func TestGoFlagSpellingsStillWork(t *testing.T) {
	var code int
	var b bytes.Buffer
	fs := newScanCmd(&code, &b, &b).Flags()
	for _, tt := range []struct{ in, want []string }{
		{[]string{"-timeout", "5s", "127.0.0.2"}, []string{"--timeout", "5s", "127.0.0.2"}},
		{[]string{"-fail-on=low", "-no-brute", "--q"}, []string{"--fail-on=low", "--no-brute", "-q"}},
		{[]string{"-p", "-timeout", "-o", "-list"}, []string{"-p", "-timeout", "-o", "-list"}}, // values, not flags
		{[]string{"-qp", "-rate", "-p8123", "-rate"}, []string{"-qp", "-rate", "-p8123", "--rate"}},
		{[]string{"--", "-timeout"}, []string{"--", "-timeout"}},
		{[]string{"-", "-f=jsonl", "-format=jsonl"}, []string{"-", "-f=jsonl", "--format=jsonl"}},
	} {
		if got := goFlagSpellings(fs, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("goFlagSpellings(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	code, _, stderr := scanCLI(t, "127.0.29.1", "-p", "1", "-no-brute", "-fail-on=none")
	if code != exitError || !strings.Contains(stderr, "--fail-on") {
		t.Errorf("-fail-on=none: exit %d, stderr %q; want %d naming --fail-on", code, stderr, exitError)
	}
}

// A bad flag is a usage error (exit 2) that names the flag.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "127.0.29.1", "--timeout", "soon"}, `"--timeout" flag`},
		{[]string{"scan", "127.0.29.1", "--rate", "fast"}, `"--rate" flag`},
		{[]string{"scan", "127.0.29.1", "-p"}, "flag needs an argument: 'p' in -p"},
		{[]string{"scan", "127.0.29.1", "--ports"}, "flag needs an argument: --ports"},
		{[]string{"scan", "127.0.29.1", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"scan", "127.0.29.1", "-z"}, "unknown shorthand flag: 'z' in -z"},
		{[]string{"scan", "127.0.29.1", "-p", "1", "--no-brute", "--max-memory", "lots"}, "--max-memory"},
		{[]string{"classify", "--format"}, "flag needs an argument: --format"},
		{[]string{"scna"}, `unknown command "scna"`},
	} {
		code, stdout, stderr := cli(t, tt.args...)
		if code != exitError || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("leakhound %q: exit %d, stdout %q, stderr %q; want %d and an error containing %q", tt.args, code, stdout, stderr, exitError, tt.want)
		}
	}
	code, _, stderr := cli(t)
	if code != exitError || !strings.Contains(stderr, "Available Commands:") {
		t.Errorf("leakhound without a command: exit %d, stderr %q; want %d and the usage", code, stderr, exitError)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "# bash completion V2 for leakhound",
		"zsh":  "#compdef leakhound",
		"fish": "complete -c leakhound",
	} {
		code, out, errOut := cli(t, "completion", shell)
		if code != exitClean || !strings.Contains(out, want) {
			t.Errorf("completion %s = %d (stderr %q), output without %q", shell, code, errOut, want)
		}
	}
	// What the scripts ask: the values of --format and of -p.
	_, out, _ := cli(t, "__complete", "scan", "--format", "")
	for _, f := range []string{"text", "jsonl", "sarif", "defectdojo"} {
		if !strings.Contains(out, "\n"+f+"\n") && !strings.HasPrefix(out, f+"\n") {
			t.Errorf("completion of scan --format lacks %s:\n%s", f, out)
		}
	}
	if _, out, _ := cli(t, "__complete", "scan", "-p", ""); !strings.Contains(out, "clickhouse\n") || !strings.Contains(out, "postgresql\n") {
		t.Errorf("completion of scan -p lacks the datastore names:\n%s", out)
	}
	if _, out, _ := cli(t, "__complete", "scan", ""); !strings.HasSuffix(out, ":4\n") {
		t.Errorf("completion of a scan target offers files (want directive 4, no files):\n%s", out)
	}
	if _, out, _ := cli(t, "__complete", "classify", ""); !strings.HasSuffix(out, ":0\n") {
		t.Errorf("completion of a classify path does not offer files (want directive 0):\n%s", out)
	}
	if _, out, _ := cli(t, "__complete", "scan", "--"); !strings.Contains(out, "--fail-on") || !strings.Contains(out, "--ports") {
		t.Errorf("completion of scan -- lacks the flags:\n%s", out)
	}
}

func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.25.4", Main: debug.Module{Path: "github.com/leakhound/leakhound", Version: "v0.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-11-29T21:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}}
	got := versionText(bi, true)
	for _, want := range []string{"module:  github.com/leakhound/leakhound v0.2.0\n", "commit:  0123456789abcdef0123456789abcdef01234567 (2026-11-29T21:00:00Z), with uncommitted changes\n", "go:      go1.25.4 linux/amd64\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("versionText = %q, want it to hold %q", got, want)
		}
	}
	bi.Main.Version, bi.Settings = "(devel)", nil
	if got := versionText(bi, true); !strings.Contains(got, "(devel)") || !strings.Contains(got, "commit:  unknown") {
		t.Errorf("a build without VCS stamp: %q, want (devel) and an unknown commit", got)
	}
	if got := versionText(nil, false); !strings.Contains(got, "module:  unknown") || !strings.Contains(got, "commit:  unknown") {
		t.Errorf("no build information: %q, want module and commit unknown", got)
	}
}

// "leakhound version" and "leakhound --version" print the commit Go
// stamped into the binary, or say it is unknown.
func TestVersionOfABuiltBinary(t *testing.T) {
	bin := buildLeakhound(t)
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "commit:  unknown"
	if m := regexp.MustCompile(`vcs\.revision=([0-9a-f]+)`).FindSubmatch(info); m != nil {
		want = "commit:  " + string(m[1])
	}
	var outs []string
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("leakhound %s: %v", arg, err)
		}
		if !strings.HasPrefix(string(out), "leakhound ") || !strings.Contains(string(out), want) || !strings.Contains(string(out), "module:  github.com/leakhound/leakhound ") {
			t.Errorf("leakhound %s = %q, want the module and %q", arg, out, want)
		}
		outs = append(outs, string(out))
	}
	if outs[0] != outs[1] {
		t.Errorf("version and --version differ: %q, %q", outs[0], outs[1])
	}
}
