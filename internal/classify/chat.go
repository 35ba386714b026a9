package classify

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// chatNameRe matches column (or log attribute) names of tables that store
// conversations with a language model.
var chatNameRe = regexp.MustCompile(`(?i)(^|[._\-\s])(prompts?|messages?|completions?|conversations?|chat|dialog(ue)?|input_messages|output_messages|gen_ai|llm|assistant|question|answer)([._\-\s]|$)`)

// chatContent are markers of a conversation inside a value: chat-completion
// JSON, chat templates, and transcript prefixes in English and Chinese.
var chatContent = []string{
	`"role":"user"`, `"role": "user"`, `"role":"assistant"`, `"role": "assistant"`, `"role":"system"`, `"role": "system"`,
	`\"role\":\"user\"`, `\"role\":\"assistant\"`,
	`<|im_start|>`, `[INST]`, "\nHuman:", "\nAssistant:", "User:", "用户：", "用户:", "助手：", "助手:",
	"gen_ai.prompt", "gen_ai.completion", "llm.input_messages", "llm.output_messages",
}

// ChatKeywords are substrings a datastore can search for to find rows that
// hold conversations: chat-completion markers, and chat keys holding a
// value (PairKeywords).
func ChatKeywords() []string {
	return append([]string{`"role"`, `\"role\"`, "gen_ai.", "llm.input", "prompt", "用户"}, PairKeywords()...)
}

// chatExactKey names, among Limits.Exact, the count of rows where a chat
// key (a PairKeywords entry) holds a value and the row names a
// conversation (a chat or completion span, route or service).
func chatExactKey(keyword string) string { return "chat:" + keyword }

// chatExact is the pattern of chatExactKey: the key at the start of a line
// (as pairs are presented) and a chat word on another line of the row (a
// span or service before or after it): a message that only mentions chat
// is not counted.
func chatExact(keyword string) string {
	k := regexp.QuoteMeta(keyword)
	w := `(?i:chat|completion|conversation)`
	return `(?s)` + w + `[^\n]*\n.*(^|\n)` + k + `|(^|\n)` + k + `[^\n]*\n.*` + w
}

// chatVerdict is what the rows read of a table say of conversations.
type chatVerdict struct {
	ok     bool
	why    string
	rows   map[int]bool // the rows holding a message to an assistant
	places []string     // where, first seen first: a column, or column[key]
	// carriers are the chat keywords found in those rows, each true when
	// a row it carries named a conversation besides its text.
	carriers map[string]bool
}

// judgeChat judges each row (Conversation) and the table: two rows holding
// a message to an assistant make a chat log, or one in a column named for
// conversations.
func judgeChat(columns []string, rows [][]string) chatVerdict {
	v := chatVerdict{rows: map[int]bool{}, carriers: map[string]bool{}}
	named := ""
	for _, c := range columns {
		if chatNameRe.MatchString(c) {
			named = c
			break
		}
	}
	firstWhy := ""
	for ri, row := range rows {
		place, why, ok := Conversation(columns, row)
		if !ok {
			continue
		}
		v.rows[ri] = true
		if !slices.Contains(v.places, place) {
			v.places = append(v.places, place)
		}
		if firstWhy == "" {
			firstWhy = why
		}
		context := strings.Contains(why, "context ") || strings.Contains(why, "conversation markers")
		for _, kw := range ChatKeywords() {
			for _, val := range row {
				if strings.Contains(val, kw) {
					v.carriers[kw] = v.carriers[kw] || context
					break
				}
			}
		}
	}
	n := len(v.rows)
	if n >= 2 || n == 1 && named != "" {
		v.ok = true
		v.why = "messages to an assistant in " + strconv.Itoa(n) + " rows read, in " + strings.Join(v.places, ", ") + " (" + firstWhy + ")"
	}
	return v
}

// ChatLog judges whether a table with these column names and these rows
// holds chat or prompt logs, and says why and where.
func ChatLog(columns []string, rows [][]string) (bool, string) {
	v := judgeChat(columns, rows)
	return v.ok, v.why
}

func firstMarker(v string) string {
	for _, m := range chatContent {
		if strings.Contains(v, m) {
			return m
		}
	}
	return ""
}
