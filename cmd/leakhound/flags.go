package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagGroups gives a command's help its flags by purpose, as nuclei's -h
// does: INPUT, PORTS, DISCOVERY, RATE, SAMPLING, OUTPUT… Each group is a
// flag set of its own, in which a flag is defined with the usual pflag
// call, one line:
//
//	g.output.BoolVar(&o.quiet, "quiet", false, "…")
//
// attach then adds every group's flags to the command, in that order. A
// flag defined on the command directly is still parsed, and its help
// lists it under OTHER.
type flagGroups struct {
	cmd    *cobra.Command
	groups []flagGroup
}

type flagGroup struct {
	title string
	flags *pflag.FlagSet
}

func newFlagGroups(cmd *cobra.Command) *flagGroups { return &flagGroups{cmd: cmd} }

// add returns the flag set of a new group, listed in help after those added
// before it.
func (g *flagGroups) add(title string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(title, pflag.ContinueOnError)
	fs.SortFlags = false // a group lists its flags in the order they are defined
	g.groups = append(g.groups, flagGroup{title: title, flags: fs})
	return fs
}

// attach adds the groups' flags to the command, and gives it a usage that
// lists them group by group. Call it once every flag is defined.
func (g *flagGroups) attach() {
	for _, gr := range g.groups {
		g.cmd.Flags().AddFlagSet(gr.flags)
	}
	g.cmd.SetUsageFunc(func(c *cobra.Command) error {
		return writeUsage(c.OutOrStderr(), c, g.groups)
	})
}

// helpWidth is where a flag's help is wrapped.
const helpWidth = 100

// writeUsage writes the usage of c with its flags in groups, each flag
// once with both its names ("-f, --format string"), and a last group,
// OTHER, of the flags no group holds (--help among them).
func writeUsage(w io.Writer, c *cobra.Command, groups []flagGroup) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s\n", c.UseLine())
	if c.Example != "" {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	grouped := map[string]bool{}
	type row struct{ names, help string }
	var sections [][]row
	var titles []string
	width := 0
	addRows := func(title string, fs *pflag.FlagSet) {
		var rows []row
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			grouped[f.Name] = true
			r := row{names: flagNames(f), help: flagHelp(f)}
			width = max(width, len(r.names))
			rows = append(rows, r)
		})
		if len(rows) > 0 {
			titles = append(titles, title)
			sections = append(sections, rows)
		}
	}
	for _, gr := range groups {
		addRows(gr.title, gr.flags)
	}
	other := pflag.NewFlagSet("OTHER", pflag.ContinueOnError)
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !grouped[f.Name] {
			other.AddFlag(f)
		}
	})
	addRows("OTHER", other)
	for i, rows := range sections {
		fmt.Fprintf(&b, "\n%s:\n", titles[i])
		for _, r := range rows {
			pad := strings.Repeat(" ", width-len(r.names)+3)
			fmt.Fprintf(&b, "%s%s%s\n", r.names, pad, wrap(r.help, len(r.names)+len(pad), helpWidth))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// flagNames is "  -f, --format string" or "      --fail-on string".
func flagNames(f *pflag.Flag) string {
	s := "      --" + f.Name
	if f.Shorthand != "" {
		s = "  -" + f.Shorthand + ", --" + f.Name
	}
	if name, _ := pflag.UnquoteUsage(f); name != "" {
		s += " " + name
	}
	return s
}

// flagHelp is a flag's help with its default, when that is not the zero
// value.
func flagHelp(f *pflag.Flag) string {
	_, help := pflag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "0", "false", "[]", "0s":
		return help
	}
	if f.Value.Type() == "string" {
		return help + fmt.Sprintf(" (default %q)", f.DefValue)
	}
	return help + " (default " + f.DefValue + ")"
}

// wrap breaks s at spaces so that lines, indented by indent, end before
// width; a word longer than a line stays whole.
func wrap(s string, indent, width int) string {
	room := max(width-indent, 30)
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		switch {
		case i == 0:
		case n+1+len(word) > room:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// goFlagSpellings rewrites the spellings Go's flag package accepted and
// pflag reads otherwise, so that scripts written for earlier releases
// mean what they meant: "-timeout 5s" and "-fail-on=low" (one dash before a
// long name: pflag would read -t -i -m …) become "--timeout 5s" and
// "--fail-on=low"; "--q" (two dashes before a one-letter name) becomes
// "-q". Values of flags, and everything after "--", are left alone.
func goFlagSpellings(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, hasValue := strings.CutPrefix(a, "--")
		long := hasValue
		if !long {
			name = a[1:]
		}
		name, _, hasValue = strings.Cut(name, "=")
		var f *pflag.Flag
		switch {
		case !long && len(name) > 1 && fs.Lookup(name) != nil:
			a, f = "-"+a, fs.Lookup(name)
		case long && len(name) == 1 && fs.Lookup(name) == nil && fs.ShorthandLookup(name) != nil:
			a, f = a[1:], fs.ShorthandLookup(name)
		case long:
			f = fs.Lookup(name)
		default:
			// Short flags, perhaps several (-qp 8123) or with a value
			// (-p8123): the last one may take the next argument.
			var inGroup bool
			f, inGroup = shortValueFlag(fs, name)
			hasValue = hasValue || inGroup
		}
		out = append(out, a)
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i]) // the flag's value, whatever it looks like
		}
	}
	return out
}

// shortValueFlag reads a group of one-letter flags (without the dash) and
// returns the one that takes a value, and whether the value is in the
// group already.
func shortValueFlag(fs *pflag.FlagSet, shorts string) (*pflag.Flag, bool) {
	for i := 0; i < len(shorts); i++ {
		f := fs.ShorthandLookup(shorts[i : i+1])
		if f == nil {
			return nil, true
		}
		if f.NoOptDefVal == "" {
			return f, i+1 < len(shorts)
		}
	}
	return nil, true
}

// completeWith makes the shell complete flag name with values.
func completeWith(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}
