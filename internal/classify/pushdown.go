package classify

import (
	"slices"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Limits fills base with the filters a session declares it can
// run: the rules' keywords (and the chat keywords) only where it runs
// substring filters; patterns, translated into its dialect, only where it
// runs regular expressions (a pattern that cannot be translated is not
// pushed: the records read back are classified anyway); exact counts only
// where it runs both. original maps each pattern sent back to the rules'
// own, by which counts are known.
func (e *Engine) Limits(base datastore.Limits, pd datastore.Pushdown) (lim datastore.Limits, original map[string]string) {
	lim = base
	lim.Keywords, lim.Patterns, lim.Exact = nil, nil, nil
	original = map[string]string{}
	translate := func(p string) (string, bool) {
		if pd.Regex == datastore.DialectNone {
			return "", false
		}
		t, err := datastore.TranslateRegex(p, pd.Regex)
		if err != nil {
			return "", false
		}
		original[t] = p
		return t, true
	}
	keywords, patterns := e.Pushdown()
	if pd.Substring {
		lim.Keywords = append(slices.Clone(keywords), ChatKeywords()...)
	}
	for _, p := range patterns {
		if t, ok := translate(p); ok {
			lim.Patterns = append(lim.Patterns, t)
		}
	}
	if pd.Substring && pd.Regex != datastore.DialectNone {
		lim.Exact = map[string]datastore.Match{}
		if pd.Distinct {
			lim.Distinct = map[string]datastore.Extract{}
		}
		for _, r := range e.Rules() {
			if len(r.Keywords) == 0 {
				continue
			}
			if t, ok := translate(r.Pattern); ok {
				lim.Exact[ExactKey(r.ID)] = datastore.Match{Keywords: r.Keywords, Pattern: t}
				if pd.Distinct {
					lim.Distinct[ExactKey(r.ID)] = datastore.Extract{Keywords: r.Keywords, Pattern: t, Exclude: r.Placeholders()}
				}
			}
		}
		// Rows where a chat key holds a value in a row naming a
		// conversation: the size of a chat log kept as key/value pairs.
		for _, kw := range PairKeywords() {
			if t, ok := translate(chatExact(kw)); ok {
				lim.Exact[chatExactKey(kw)] = datastore.Match{Keywords: []string{kw}, Pattern: t}
			}
		}
	}
	return lim, original
}
