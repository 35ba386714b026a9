package classify

import (
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// Floors of the conversation judge on the labelled set (corpus.ChatCases):
// accuracy, not timing.
const (
	chatRecallFloor    = 0.95
	chatPrecisionFloor = 0.98
)

func TestConversationLabelled(t *testing.T) {
	var tp, fp, fn int
	for _, c := range corpus.ChatCases() {
		place, why, ok := Conversation(c.Columns, c.Values)
		switch {
		case ok && c.Chat:
			tp++
			if place != c.Place {
				t.Errorf("Conversation(%s %s %q) place = %q, want %q", c.Shape, c.Lang, c.Text, place, c.Place)
			}
		case ok && !c.Chat:
			fp++
			t.Logf("false positive: %s %s %q (%s)", c.Shape, c.Lang, c.Text, why)
		case !ok && c.Chat:
			fn++
			t.Logf("missed: %s %s %q", c.Shape, c.Lang, c.Text)
		}
	}
	recall, precision := float64(tp)/float64(tp+fn), float64(tp)/float64(max(tp+fp, 1))
	t.Logf("chat-log rows: recall %.3f, precision %.3f (%d true, %d false positives, %d missed)", recall, precision, tp, fp, fn)
	if recall < chatRecallFloor || precision < chatPrecisionFloor {
		t.Errorf("chat-log recall %.3f, precision %.3f; want at least %.2f and %.2f", recall, precision, chatRecallFloor, chatPrecisionFloor)
	}
}

// The table of the 2025 leak: plain-text prompts in parallel names/values
// arrays under a chat-completion span, no role, no template, no column
// called prompt.
func TestChatLogLeakedShape(t *testing.T) {
	cols := []string{"span_name", "string.values", "_service", "_source"}
	row := func(span, names, values string) []string {
		return []string{span, corpus.Pairs(strings.Split(names, ","), strings.Split(values, ",")), "chat-backend", "k8s/chat-backend-1"}
	}
	rows := [][]string{
		row("/api/v0/chat/completion", "message,level", "帮我写一份周报,info"),
		row("/api/v0/chat/completion", "message,level", "用三句话解释一下什么是量子计算,info"),
		row("/api/v0/health", "status,latency_ms", "ok,3"),
		row("/api/v0/chat/completion", "message,level", "upstream timeout after 30s,error"),
	}
	ok, why := ChatLog(cols, rows)
	if !ok || !strings.Contains(why, "string.values[message]") {
		t.Errorf("ChatLog(log_stream rows) = %v, %q; want true, naming string.values[message]", ok, why)
	}
	// The same table holding only errors and health checks is no chat log.
	if ok, why := ChatLog(cols, [][]string{rows[2], rows[3], row("/api/v0/chat/completion", "message,level", "连接数据库失败，请稍后重试,error")}); ok {
		t.Errorf("ChatLog(errors under message) = true (%s), want false", why)
	}
}

// FuzzConversation: rows read from a server are any bytes; judging them
// never fails, and a place it names is one of the row's columns.
func FuzzConversation(f *testing.F) {
	f.Add("string.values", "message = 帮我写一份周报\nlevel = info", "/api/v0/chat/completion")
	f.Add("body", `{"messages":[{"role":"user","content":"hi \"there\""}]}`, "")
	f.Add("payload", `{"message":"Can you help me?\\`, "x")
	f.Fuzz(func(t *testing.T, col, value, span string) {
		place, _, ok := Conversation([]string{col, "span_name"}, []string{value, span})
		if ok && !strings.HasPrefix(place, col) && !strings.HasPrefix(place, "span_name") {
			t.Fatalf("Conversation named %q, not a column of the row", place)
		}
	})
}
