package classify

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// A message to an assistant is judged by a small scorer, not a model: what
// the text reads like (prose with a request or a question in it, written
// in the first person) and where it sits (the key beside it, a span, route
// or service naming chat or completion in the same row). Machine text
// (errors, stack traces, SQL, URLs, templates, log lines) loses points, so
// an error message logged under "message" in a chat span is not a prompt.
// Each point is named in the reason, so a verdict can be explained.

// conversationThreshold is the score a text needs to be a message to an
// assistant: content alone can reach it (a request in the first person),
// context alone cannot.
const conversationThreshold = 5

// minContentScore is what the text itself must score before context
// counts: prose that asks, questions or speaks in the first person. Bland
// prose ("your order has shipped") is not a message to an assistant
// whatever key or span it sits under.
const minContentScore = 3

// chatKeys are keys under which a message to an assistant is stored, with
// the points each adds: the generic ones (message, content) also hold
// error and notification texts, the specific ones rarely anything else.
var chatKeys = map[string]int{
	"message": 1, "msg": 1, "content": 1, "input": 1, "text": 1, "query": 1, "body": 1,
	"prompt": 2, "question": 2, "user_input": 2, "user_message": 2, "user_query": 2,
	"instruction": 2, "utterance": 2, "ask": 2, "问题": 2, "提问": 2,
}

// PairKeywords are the keys of chatKeys as a datastore presents a key/value
// pair ("message = …", see Pairs): pushed down, they find and count the rows
// where a chat key holds a value.
func PairKeywords() []string {
	return []string{"message = ", "prompt = ", "query = ", "question = ", "content = ", "input = "}
}

// chatContext marks a span, route, service or column that names a
// conversation with a model.
var chatContext = lazyRegexp(`(?i)chat|completions?|conversations?|assistant|dialog|copilot|gen_ai|llm|prompt|对话|聊天|问答`)

// Request and question cues, by language: a phrase that asks someone to do
// or explain something. Latin cues match whole words at the start of the
// text or after a separator.
var (
	cuesHan = []string{"帮我", "帮忙", "请问", "请帮", "请你", "给我", "告诉我", "怎么", "如何", "什么", "为什么", "能不能", "可以吗", "可不可以",
		"吗", "呢", "写一", "写个", "总结", "翻译", "解释", "改成", "优化", "生成", "推荐", "分析一下", "一下",
		// Japanese and Korean
		"ください", "教えて", "ですか", "ますか", "して", "해줘", "알려줘", "주세요", "어떻게", "무엇", "할까"}
	// cueStart must open the text (a question word, an auxiliary, an
	// imperative verb); cueAnywhere may stand anywhere in it.
	cueStart = lazyRegexp(`(?i)^["'¿¡(]*(write|explain|summari[sz]e|translate|draft|generate|create|help|give|tell|show|list|compare|fix|rewrite|improve|plan|suggest|recommend|describe|make|find|convert|refactor|how|what|why|which|who|when|where|can|could|would|should|is|are|do|does|` +
		// Spanish, French, German, Portuguese, Italian, Russian
		`cómo|como|qué|que|escribe|explica|resume|traduce|comment|pourquoi|quel|quelle|écris|explique|résume|traduis|wie|warum|was|welche|schreib|schreibe|erkläre|übersetze|porque|escreva|explique|perché|scrivi|spiega|come|как|почему|что|зачем|напиши|объясни|переведи)($|[\s,.;:!?'"])`)
	cueAnywhere = lazyRegexp(`(?i)(^|[^\pL])(help me|can you|could you|would you|i need|i want|i'd like|how do i|how can i|how to|puedes|ayúdame|peux-tu|pouvez-vous|aide-moi|kannst du|können sie|hilf mir|você pode|pode me|puoi|potresti|можешь|помоги)($|[^\pL])`)
	// politeness is half a cue: notices ask their readers to do things too
	// ("please verify your email address").
	politeness  = lazyRegexp(`(?i)(^|[^\pL])(please|por favor|s'il (te|vous) pla[iî]t|bitte|per favore|пожалуйста)($|[^\pL])`)
	firstPerson = lazyRegexp(`(?i)(^|[^\pL])(i|i'm|i've|my|me|we|our|mi|je|mon|ma|mes|ich|mein|meine|eu|meu|io|я|мне|мой)($|[^\pL])|我|私|저는|제가|내가`)
)

// Machine text: each loses content points.
var (
	errorWords = lazyRegexp(`(?i)\b(error|errno|failed|failure|exception|timed? ?out|refused|denied|invalid|not found|unauthori[sz]ed|forbidden|unavailable|unreachable|null pointer|undefined|stack ?trace|deadline exceeded|status code|retry(ing)?|eof)\b|错误|失败|异常|超时|无效|不存在|未找到|拒绝|不能为空|请稍后|系统繁忙|权限不足|未授权|报错码|错误码|已过期|不合法`)
	machine    = []*lazyRE{
		lazyRegexp(`(?is)^\s*(select|insert|update|delete|with|create|alter|drop|show|explain|set)\s.*\b(from|into|table|where|values|database|index)\b`),                        // SQL
		lazyRegexp(`(?m)^\s*(at [\w$.<>]+\(|File "[^"]+", line \d|goroutine \d+ \[|Traceback \(most recent call last\)|panic: |Caused by: |\S+\.(java|go|py|js|ts|rb|php):\d+)`), // stack traces
		lazyRegexp(`^\s*\S*://\S*\s*$|^\s*/[\w./%?=&-]*\s*$`),                                                                                            // a URL or a path alone
		lazyRegexp(`\{\{|\}\}|\$\{|%[sdvfq]\b|\{\d\}|\{[a-z_]+\}|<%|%>`),                                                                                 // templates
		lazyRegexp(`(?i)^\s*\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d|^\s*\[?(trace|debug|info|warn|warning|error|fatal)\]?[\s:]|\blevel=\w+|\b\w+=\S+\s+\w+=\S+`), // log lines
	}
)

// contentScore rates how much text reads like a message a person wrote to
// an assistant, and names what counted.
func contentScore(text string) (int, []string) {
	text = strings.TrimSpace(text)
	if len(text) > 4096 {
		text = text[:4096]
	}
	if text == "" || strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") {
		return 0, nil
	}
	var cjk, letters, other int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r):
			cjk++
		case unicode.IsLetter(r):
			letters++
		case unicode.IsSpace(r):
		default:
			other++
		}
	}
	words := 0
	for _, w := range strings.Fields(text) {
		if n := utf8.RuneCountInString(w); n > 0 && n < 25 && strings.IndexFunc(w, unicode.IsLetter) >= 0 {
			words++
		}
	}
	runes := cjk + letters + other
	prose := cjk >= 5 || words >= 4 && letters*10 >= runes*6
	if !prose || runes == 0 {
		return 0, nil
	}
	score, why := 2, []string{"prose"}
	for _, m := range machine {
		if m.MatchString(text) {
			return score - 6, append(why, "machine text")
		}
	}
	cues := 0
	for _, c := range cuesHan {
		if strings.Contains(text, c) {
			cues++
		}
	}
	if cueStart.MatchString(text) {
		cues++
	}
	if cueAnywhere.MatchString(text) {
		cues++
	}
	if politeness.MatchString(text) {
		score, why = score+1, append(why, "politeness")
	}
	switch {
	case cues >= 2:
		score, why = score+3, append(why, "request")
	case cues == 1:
		score, why = score+2, append(why, "request")
	}
	if strings.ContainsAny(text, "?？") {
		score, why = score+1, append(why, "question")
	}
	if firstPerson.MatchString(text) {
		score, why = score+1, append(why, "first person")
	}
	if n := len(errorWords.FindAllStringIndex(text, 2)); n > 0 {
		score, why = score-3*n, append(why, "error words")
	}
	return score, why
}

// utterance is a text of a row that may be a message to an assistant: the
// column it is in, and the key beside it when it is one value of a
// key/value pair or a JSON field.
type utterance struct{ column, key, text string }

func (u utterance) place() string {
	if u.key == "" {
		return u.column
	}
	return u.column + "[" + u.key + "]"
}

var (
	pairLine  = lazyRegexp(`^([\pL\pN_.\-]{1,64}) = `)
	jsonField = lazyRegexp(`"(message|msg|content|input|text|query|prompt|question|user_input|user_message|user_query|instruction)"\s*:\s*"((?:[^"\\]|\\.){2,1000})"`)
)

// utterances splits a row into the texts it may hold: each value of a
// key/value pair as a datastore presents it ("key = value" lines, see
// Pairs), each chat field of a JSON value, else the whole value.
func utterances(columns, row []string, fn func(utterance)) {
	for ci, v := range row {
		if ci >= len(columns) {
			return
		}
		col := columns[ci]
		if len(v) > 64<<10 {
			v = v[:64<<10]
		}
		if pairLine.MatchString(v) {
			var cur *utterance
			for _, line := range strings.Split(v, "\n") {
				if m := pairLine.FindStringSubmatch(line); m != nil {
					if cur != nil {
						fn(*cur)
					}
					cur = &utterance{col, m[1], line[len(m[0]):]}
				} else if cur != nil {
					cur.text += "\n" + line
				}
			}
			if cur != nil {
				fn(*cur)
			}
			continue
		}
		if strings.Contains(v, `":`) {
			if firstMarker(v) != "" {
				fn(utterance{col, "", v}) // a chat-completion document, judged whole
				continue
			}
			for _, m := range jsonField.FindAllStringSubmatch(v, 8) {
				fn(utterance{col, m[1], strings.NewReplacer(`\"`, `"`, `\n`, "\n", `\\`, `\`).Replace(m[2])})
			}
			continue
		}
		fn(utterance{col, "", v})
	}
}

// rowContext says whether anything in the row but the text judged names a
// conversation: a column or key name, or a short value such as a span, a
// route or a service.
func rowContext(columns, row []string, skip utterance) (bool, string) {
	hit := ""
	utterances(columns, row, func(u utterance) {
		if hit != "" || u == skip {
			return
		}
		if u.key != "" && chatContext.MatchString(u.key) {
			hit = u.key
		} else if len(u.text) <= 200 && chatContext.MatchString(u.text) && !strings.ContainsAny(strings.TrimSpace(u.text), " \n") {
			hit = strings.TrimSpace(u.text)
		}
	})
	for _, c := range columns {
		if hit == "" && chatContext.MatchString(c) {
			hit = c
		}
	}
	return hit != "", hit
}

// Conversation judges whether a row read from a table holds a message a
// person wrote to an assistant, and where: the column, or column[key] when
// the text is one value of a key/value pair ("string.values[message]").
// why names what counted.
func Conversation(columns, row []string) (place, why string, ok bool) {
	best, bestScore := utterance{}, -100
	var bestWhy []string
	utterances(columns, row, func(u utterance) {
		if firstMarker(u.text) != "" {
			// A chat-completion document: the markers say it all. One
			// that is a pair's value names its key: string.values[gen_ai.prompt],
			// not the column of names where gen_ai.prompt is also found.
			s := 100
			if u.key != "" {
				s++
			}
			if s > bestScore {
				best, bestScore, bestWhy = u, s, []string{"conversation markers"}
			}
			return
		}
		s, w := contentScore(u.text)
		if s < minContentScore {
			return
		}
		name := u.key
		if name == "" {
			name = u.column
		}
		if p := chatKeys[strings.ToLower(lastSegment(name))]; p > 0 {
			s, w = s+p, append(w, "key "+name)
		}
		if s > bestScore {
			best, bestScore, bestWhy = u, s, w
		}
	})
	if bestScore < 100 {
		if ok, c := rowContext(columns, row, best); ok {
			bestScore, bestWhy = bestScore+2, append(bestWhy, "context "+c)
		}
	}
	if bestScore < conversationThreshold {
		return "", "", false
	}
	return best.place(), strings.Join(bestWhy, ", "), true
}

func lastSegment(name string) string {
	if i := strings.LastIndexAny(name, "."); i >= 0 {
		return name[i+1:]
	}
	return name
}

// lazyRE is a regular expression compiled when first used: the judge's
// expressions cost every command tens of milliseconds at start, and only
// a scan's sizing needs them.
type lazyRE struct {
	once sync.Once
	src  string
	re   *regexp.Regexp
}

func lazyRegexp(src string) *lazyRE { return &lazyRE{src: src} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.src) })
	return l.re
}

func (l *lazyRE) MatchString(s string) bool                  { return l.get().MatchString(s) }
func (l *lazyRE) FindAllStringIndex(s string, n int) [][]int { return l.get().FindAllStringIndex(s, n) }
func (l *lazyRE) FindStringSubmatch(s string) []string       { return l.get().FindStringSubmatch(s) }
func (l *lazyRE) FindStringSubmatchIndex(s string) []int     { return l.get().FindStringSubmatchIndex(s) }
func (l *lazyRE) String() string                             { return l.src }
func (l *lazyRE) FindAllStringSubmatch(s string, n int) [][]string {
	return l.get().FindAllStringSubmatch(s, n)
}
