package lab

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// PlainLogStream is the table shaped exactly like the one of the January
// 2025 leak: log_stream with prompts as plain text in parallel
// string.names/string.values arrays (['message','level'] →
// ['帮我写一份周报','info']) under the span /api/v0/chat/completion: no role,
// no chat template, no column called prompt. It lives beside
// default.log_stream (whose prompts are chat-completion JSON).
var PlainLogStream = struct{ Database, Table string }{"logs", "log_stream"}

// Rows of PlainLogStream, by what they hold. Row i's kind is i%20, so the
// counts are exact: 8 in 20 rows a prompt in a chat span, 2 an error
// message in a chat span, 5 a login with a client address, 3 a message of
// another span, 2 a SQL statement.
const (
	PlainLogRows      = 200_000
	PlainLogPrompts   = PlainLogRows * 8 / 20
	PlainLogChatSpan  = PlainLogRows * 10 / 20 // rows with a message in a chat span: prompts and errors
	PlainLogMessages  = PlainLogRows * 13 / 20 // rows with a message key, in any span
	PlainLogAddresses = PlainLogRows * 5 / 20  // rows with a client address (errors may hold more)
)

// WritePlainLogStream writes PlainLogStream's rows as TabSeparated, the
// same rows for the same seed.
func WritePlainLogStream(w io.Writer, n int, seed uint64) error {
	g := gen{rand.New(rand.NewPCG(seed, 2026))}
	bw := bufio.NewWriterSize(w, 1<<20)
	t0 := time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC)
	others := []string{"ja", "ko", "es", "fr", "de", "ru"}
	for i := range n {
		ts := t0.Add(time.Duration(i) * 6 * time.Second)
		var span, service string
		var names, values []string
		switch k := i % 20; {
		case k < 8:
			lang := "zh"
			switch x := g.r.IntN(10); {
			case x >= 9:
				lang = g.one(others)
			case x >= 7:
				lang = "en"
			}
			span, service = "/api/v0/chat/completion", "chat-api"
			names, values = []string{"message", "level"}, []string{g.one(corpus.ChatPrompts[lang]), "info"}
		case k < 10:
			span, service = "/api/v0/chat/completion", "chat-api"
			names, values = []string{"message", "level"}, []string{g.one(corpus.ChatNegatives[g.one([]string{"zh", "en"})]), "error"}
		case k < 15:
			span, service = g.one([]string{"/api/v0/user/login", "/api/v0/user/profile"}), "gateway"
			names = []string{"client_ip", "user_agent", "status"}
			values = []string{fmt.Sprintf("%s.%d.%d.%d", g.one([]string{"36", "58", "116", "223"}), g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254)),
				"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)", g.one([]string{"200", "200", "401"})}
		case k < 18:
			span, service = "/api/v0/models", "model-router"
			names, values = []string{"message", "level"}, []string{g.one([]string{"model list refreshed", "cache hit", "routing to deepseek-chat"}), "debug"}
		default:
			span, service = "db.query", "billing"
			names, values = []string{"db.statement"}, []string{"SELECT sum(tokens) FROM usage WHERE org_id = " + fmt.Sprint(g.r.IntN(90000))}
		}
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%s\tk8s/%s-%s\n", ts.Format("2006-01-02 15:04:05"), span, array(names), array(values), service, service, g.pick(hexset, 5))
	}
	return bw.Flush()
}
