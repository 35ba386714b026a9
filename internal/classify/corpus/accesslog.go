package corpus

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// GenerateAccessLog writes whole JSON log lines to w until at least size
// bytes are written, each with a client address, as API gateways log them:
// the input on which listing every address as a finding once made
// classify four times slower and its output larger than its input. One
// line in 20 names a user by email; one in 4 carries a prompt.
func GenerateAccessLog(w io.Writer, size int64, seed uint64) error {
	g := newGen(seed)
	out := bufio.NewWriterSize(w, 1<<20)
	routes := []string{"/v1/chat/completions", "/v1/models", "/v1/embeddings", "/healthz", "/api/v0/user/profile"}
	agents := []string{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15", "okhttp/4.12.0", "python-requests/2.31.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36"}
	langs := []string{"zh", "zh", "zh", "en"}
	var written int64
	for n := 0; written < size; n++ {
		g.b = g.b[:0]
		g.t = g.t.Add(time.Duration(50+g.r.IntN(400)) * time.Millisecond)
		g.s(`{"ts":"` + g.t.Format("2006-01-02T15:04:05.000Z") + `","level":"info","service":"api-gateway","client_ip":"`)
		g.s(strconv.Itoa(g.one3([]int{36, 58, 101, 116, 120, 183, 223})) + "." + strconv.Itoa(g.r.IntN(256)) + "." + strconv.Itoa(g.r.IntN(256)) + "." + strconv.Itoa(1+g.r.IntN(254)))
		g.s(`","method":"POST","path":"` + g.one(routes) + `","status":` + g.one([]string{"200", "200", "200", "401", "429"}))
		g.s(`,"latency_ms":` + strconv.Itoa(20+g.r.IntN(3000)) + `,"request_id":"` + g.pick("0123456789abcdef", 32) + `","ua":"` + g.one(agents) + `"`)
		if n%20 == 7 {
			g.s(`,"user":"` + g.pick("abcdefghijklmnopqrstuvwxyz", 7) + strconv.Itoa(g.r.IntN(1000)) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"}) + `"`)
		}
		if n%4 == 1 {
			p, _ := json.Marshal(g.one(ChatPrompts[g.one(langs)]))
			g.s(`,"prompt":` + string(p))
		}
		g.s("}\n")
		if _, err := out.Write(g.b); err != nil {
			return err
		}
		written += int64(len(g.b))
	}
	return out.Flush()
}

func (g *gen) one3(xs []int) int { return xs[g.r.IntN(len(xs))] }
