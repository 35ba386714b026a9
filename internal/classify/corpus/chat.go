package corpus

import (
	"encoding/json"
	"strings"
)

// ChatCase is one labelled row of a table: whether it holds a message a
// person wrote to an assistant, in which language and shape, and where
// (Place: the column, or column[key] for a key/value pair). Values are as
// a datastore session reads them back: a key/value pair, or parallel
// arrays of names and values, as "key = value" lines (see Pairs).
type ChatCase struct {
	Shape   string // pairs (names/values arrays), json-roles, json, column
	Lang    string
	Columns []string
	Values  []string
	Chat    bool
	Place   string
	Text    string // the text judged, for reading failures
}

// Pairs presents parallel arrays of names and values as datastore sessions
// read them back: one "name = value" line per element, so that a rule or
// judge sees each value beside its key.
func Pairs(names, values []string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(names) {
			b.WriteString(names[i])
		}
		b.WriteString(" = ")
		b.WriteString(v)
	}
	return b.String()
}

// ChatPrompts are messages people write to an assistant, by language:
// requests and questions, short and long. The lab's tables hold them too.
var ChatPrompts = map[string][]string{
	"zh": {
		"帮我写一份周报", "帮我写一封给客户的道歉邮件，订单延迟了三天", "把这段代码改成异步的版本", "总结一下这份合同的主要风险",
		"我最近睡不好，有什么建议吗", "用Python写一个爬虫抓取商品价格", "翻译成英文：我们下周二开会讨论预算",
		"周报怎么写才能让老板满意？", "帮我优化这条SQL，查询太慢了", "用三句话解释一下什么是量子计算",
		"能不能帮我把这个表格转成Markdown", "推荐几本适合初学者的机器学习书", "明天去北京出差，帮我列一个行李清单",
		"我女儿发烧38度，需要去医院吗？", "帮我想一个奶茶店的名字",
	},
	"en": {
		"Summarize this quarterly report in three bullet points", "Why does my Go program deadlock when the channel is unbuffered?",
		"Draft a reply to my landlord about the broken heater", "Explain the difference between TCP and UDP to a beginner",
		"Write a SQL query that finds duplicate customers by email domain", "Plan a 5 day trip to Chengdu with kids",
		"Can you help me write a cover letter for a data analyst job?", "I need a workout plan for three days a week",
		"How do I center a div in CSS?", "Give me five ideas for a birthday party", "Rewrite this paragraph to sound more professional",
		"What should I cook tonight with chicken and rice?",
	},
	"ja": {"この文章を英語に翻訳してください", "東京で安いホテルを教えて"},
	"ko": {"이메일 초안을 작성해 주세요", "파이썬으로 정렬하는 방법을 알려줘"},
	"es": {"¿Cómo puedo mejorar mi currículum?", "Escribe un poema corto sobre el mar"},
	"fr": {"Peux-tu m'expliquer la photosynthèse simplement ?", "Écris un courriel pour annuler ma réservation"},
	"de": {"Kannst du mir erklären, wie Zinseszins funktioniert?", "Schreibe eine kurze Einladung zum Teamessen"},
	"ru": {"Помоги написать письмо начальнику об отпуске", "Как выучить английский за полгода?"},
}

// ChatNegatives are texts logged where prompts are, that are not messages
// to an assistant: errors, stack traces, SQL, URLs, templates, log lines,
// in Chinese and English. notices are prose shown to users (no request in
// them).
var (
	ChatNegatives = map[string][]string{
		"zh": {
			"连接数据库失败，请稍后重试", "参数错误：user_id不能为空", "令牌已过期，请重新登录", "系统繁忙，请稍后再试",
			"调用上游服务超时（30000ms）", "订单创建失败：库存不足", "模型返回为空，重试第2次", "用户不存在",
			"鉴权失败：无效的API密钥", "请求频率超过限制，请稍后重试",
		},
		"en": {
			"connection refused: dial tcp 10.0.3.7:5432", "context deadline exceeded while calling upstream",
			"Failed to parse request body: unexpected EOF", "upstream returned status code 429, retrying in 2s",
			"Invalid API key provided", `java.lang.NullPointerException: Cannot invoke "String.length()" because "s" is null`,
			"Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n    main()\nValueError: bad input",
			"panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:14 +0x1d",
			"Exception in thread \"main\" java.lang.IllegalStateException: closed\n\tat com.acme.chat.Client.send(Client.java:88)",
			"SELECT id, prompt FROM conversations WHERE user_id = 42 ORDER BY created_at DESC LIMIT 20",
			"INSERT INTO usage (org_id, tokens) VALUES (7, 1520)",
			"select count(*) from messages where created_at > now() - interval 1 day",
			"https://api.deepseek.com/v1/chat/completions", "/api/v0/chat/completion?stream=true",
			"Hello {{name}}, your request {{request_id}} is ready", "User %s sent %d tokens to model %s",
			"You are a helpful assistant. Answer the question: ${question}", "Dear {customer_name}, how can we help you today?",
			"2025-01-14 03:12:55 INFO chat-backend request completed in 812ms",
			`level=warn msg="slow response" model=deepseek-chat latency_ms=5400`,
			"[ERROR] worker-3: job 8812 failed after 3 attempts",
			"Why did the request fail? error: timeout after 30s",
		},
	}
	chatNotices = map[string][]string{
		"zh": {"您的订单已发货，请注意查收", "验证码已发送至您的手机", "您的会员将于三天后到期"},
		"en": {"Your password was changed successfully", "Please verify your email address to continue", "Your order has shipped and is on its way"},
	}
)

// ChatCases is the labelled set: every prompt and every negative in each
// shape a chat log takes. Negatives sit in the same places as prompts (the
// key message in a chat-completion span), the hardest test; notices, which
// read as prose, sit in a notification service's rows.
func ChatCases() []ChatCase {
	var out []ChatCase
	add := func(chat bool, lang, text string, chatSpan bool) {
		span, service := "/api/v0/chat/completion", "chat-backend"
		if !chatSpan {
			span, service = "/api/v1/notify", "notifier"
		}
		for _, key := range []string{"message", "query", "input", "content"} {
			out = append(out, ChatCase{"pairs", lang,
				[]string{"span_name", "string.values", "_service", "_source"},
				[]string{span, Pairs([]string{key, "level"}, []string{text, "info"}), service, "k8s/" + service + "-7f9c4"},
				chat, "string.values[" + key + "]", text})
		}
		q, _ := json.Marshal(text)
		if chat {
			out = append(out, ChatCase{"json-roles", lang, []string{"body"},
				[]string{`{"model":"deepseek-chat","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":` + string(q) + `}]}`},
				chat, "body", text})
		}
		out = append(out, ChatCase{"json", lang, []string{"payload"},
			[]string{`{"user_id":8812,"message":` + string(q) + `,"lang":"` + lang + `"}`}, chat, "payload[message]", text})
		col := "prompt"
		if !chat {
			col = "detail"
		}
		out = append(out, ChatCase{"column", lang, []string{col, "status"}, []string{text, "ok"}, chat, col, text})
	}
	for _, lang := range []string{"zh", "en", "ja", "ko", "es", "fr", "de", "ru"} {
		for i, p := range ChatPrompts[lang] {
			add(true, lang, p, i%2 == 0) // half without a chat span: the text and its key alone
		}
	}
	for _, lang := range []string{"zh", "en"} {
		for _, n := range ChatNegatives[lang] {
			add(false, lang, n, true)
		}
		for _, n := range chatNotices[lang] {
			add(false, lang, n, false)
		}
	}
	return out
}
