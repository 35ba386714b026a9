package lab

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"github.com/leakhound/leakhound/internal/classify/corpus"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// LogStreamRows is the size of the lab's log_stream table, shaped like the
// table of the January 2025 leak.
const LogStreamRows = 1_000_000

// SecretKinds and PIIKinds are the kinds the generator plants in
// log_stream: a scan of the open server must find every one.
var (
	SecretKinds = []string{"openai", "deepseek", "anthropic", "aws", "github", "jwt", "private_key", "connection_string"}
	PIIKinds    = []string{"email", "phone", "national_id", "payment_card"}
)

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexset = "0123456789abcdef"
	b64set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

type gen struct{ r *rand.Rand }

func (g gen) pick(set string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[g.r.IntN(len(set))]
	}
	return string(b)
}

func (g gen) one(xs []string) string { return xs[g.r.IntN(len(xs))] }

// secret returns a synthetic value of kind, shaped like the real thing
// (GitHub tokens carry a correct checksum), and a log line carrying it.
func (g gen) secret(kind string) string {
	switch kind {
	case "openai":
		v := "sk-proj-" + g.pick(alnum, 74) + "_" + g.pick(alnum, 81)
		return `{\"level\":\"error\",\"msg\":\"upstream 401\",\"headers\":{\"Authorization\":\"Bearer ` + v + `\"}}`
	case "deepseek":
		return `{"provider":"deepseek","api_key":"sk-` + g.pick(hexset, 32) + `","model":"deepseek-chat"}`
	case "anthropic":
		return `x-api-key: sk-ant-api03-` + g.pick(alnum, 93) + `AA`
	case "aws":
		return `{"AccessKeyId":"AKIA` + g.pick(upper, 16) + `","SecretAccessKey":"` + g.pick(alnum, 40) + `"}`
	case "github":
		return "git clone https://ghp_" + corpus.CRC32Complete(g.pick(alnum, 30)) + "@github.com/acme-ai/infra.git"
	case "jwt":
		payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"u-%d","exp":%d}`, g.r.IntN(1e6), 1900000000+g.r.IntN(1e6))))
		return "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + payload + "." + g.pick(alnum, 43)
	case "private_key":
		return `{"tls_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC` + g.pick(b64set, 64) + `\n` + g.pick(b64set, 64) + `\n-----END PRIVATE KEY-----"}`
	case "connection_string":
		return `{"dsn":"postgres://svc_backend:` + g.pick(alnum, 16) + `@pg-primary.internal:5432/prod"}`
	}
	panic("unknown kind " + kind)
}

func (g gen) pii(kind string) string {
	switch kind {
	case "email":
		return `{"user_email":"` + strings.ToLower(g.pick(alnum[:26], 6)) + fmt.Sprint(g.r.IntN(1000)) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com", "outlook.com"}) + `"}`
	case "phone":
		return `{"msg":"我的手机号是1` + g.one([]string{"3", "5", "8", "9"}) + g.pick("0123456789", 9) + `，请回电"}`
	case "national_id":
		return `{"kyc":"身份证 ` + cnID(g) + `"}`
	case "payment_card":
		return `{"card":"` + luhnNumber(g, "4"+g.pick("0123456789", 5), 16) + `"}`
	}
	panic("unknown kind " + kind)
}

var promptsZH = []string{
	"帮我写一封给客户的道歉邮件，订单延迟了三天",
	"把这段代码改成异步的版本",
	"总结一下这份合同的主要风险",
	"我最近睡不好，有什么建议吗",
	"用Python写一个爬虫抓取商品价格",
	"翻译成英文：我们下周二开会讨论预算",
}

var promptsEN = []string{
	"Summarize this quarterly report in three bullet points",
	"Why does my Go program deadlock when the channel is unbuffered?",
	"Draft a reply to my landlord about the broken heater",
	"Explain the difference between TCP and UDP to a beginner",
	"Write a SQL query that finds duplicate customers by email domain",
}

// logRow writes one log_stream row as TabSeparated. Array literals are in
// ClickHouse's text format, so quotes and backslashes inside are escaped.
func (g gen) logRow(w *bufio.Writer, i int, t0 time.Time) {
	ts := t0.Add(time.Duration(i) * 2592 * time.Millisecond) // 30 days over 1M rows
	var span, service string
	var names, values []string
	switch x := g.r.IntN(100); {
	case x < 35:
		span, service = "chat.completions", "chat-backend"
		prompt := g.one(promptsZH)
		if g.r.IntN(3) == 0 {
			prompt = g.one(promptsEN)
		}
		names = []string{"gen_ai.system", "gen_ai.request.model", "gen_ai.prompt", "gen_ai.usage.total_tokens"}
		values = []string{"deepseek", g.one([]string{"deepseek-chat", "deepseek-reasoner"}),
			`[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + prompt + `"}]`,
			fmt.Sprint(100 + g.r.IntN(4000))}
	case x < 70:
		span, service = "http.request", "api-gateway"
		names = []string{"http.method", "http.route", "http.status_code", "net.peer.ip"}
		values = []string{g.one([]string{"GET", "POST"}), g.one([]string{"/v1/chat/completions", "/v1/models", "/healthz", "/v1/embeddings"}),
			g.one([]string{"200", "200", "200", "401", "429", "500"}), fmt.Sprintf("10.%d.%d.%d", g.r.IntN(256), g.r.IntN(256), g.r.IntN(256))}
	case x < 90:
		span, service = "db.query", "billing"
		names = []string{"db.system", "db.statement", "db.rows"}
		values = []string{"clickhouse", "SELECT sum(tokens) FROM usage WHERE org_id = " + fmt.Sprint(g.r.IntN(90000)), fmt.Sprint(g.r.IntN(1000))}
	default:
		span, service = "trace.event", "worker"
		names = []string{"trace_id", "event"}
		values = []string{g.pick(hexset, 32), g.one([]string{"job.started", "job.finished", "retry", "cache.miss"})}
	}
	// A small fraction of rows carry a planted leak, as real logs do.
	if g.r.IntN(400) == 0 {
		names, values = append(names, "error.detail"), append(values, g.bigSecret(SecretKinds[g.r.IntN(len(SecretKinds))]))
	}
	if g.r.IntN(150) == 0 {
		names, values = append(names, "user.context"), append(values, g.pii(PIIKinds[g.r.IntN(len(PIIKinds))]))
	}
	if v := crowded(i); v != "" {
		names, values = append(names, "request.note"), append(values, v)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\tk8s/%s-%s\n", ts.Format("2006-01-02 15:04:05"), span, array(names), array(values), service, service, g.pick(hexset, 5))
}

func array(xs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		// ClickHouse reads an array in a TSV field in one pass, with the
		// quoted-string escapes; escaping it again for TSV would double
		// every backslash.
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\t", `\t`, "\n", `\n`).Replace(x))
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}

func tsvEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace(s)
}

// WriteLogStream writes n rows of log_stream as TabSeparated, the same rows
// for the same seed.
func WriteLogStream(w io.Writer, n int, seed uint64) error {
	g := gen{rand.New(rand.NewPCG(seed, 2025))}
	bw := bufio.NewWriterSize(w, 1<<20)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		g.logRow(bw, i, t0)
	}
	return bw.Flush()
}

func cnID(g gen) string {
	return corpus.CNIDComplete(g.one([]string{"110105", "310104", "440305", "510107"}) +
		fmt.Sprintf("%d%02d%02d", 1960+g.r.IntN(45), 1+g.r.IntN(12), 1+g.r.IntN(28)) + g.pick("0123456789", 3))
}

func luhnNumber(g gen, prefix string, length int) string {
	return corpus.LuhnComplete(prefix + g.pick("0123456789", length-len(prefix)-1))
}
