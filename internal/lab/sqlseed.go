package lab

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// The relational servers (PostgreSQL and MariaDB) hold one product
// database shaped like an AI product's: chat logs with prompts, customers
// with personal data, integrations with API tokens and connection strings.
const (
	SQLDatabase = "aiapp"
	// ChatLogsRows is the size of chat_logs on the open servers, the table
	// the sizing benchmark runs on. Rows whose id is 200 modulo 400 carry a
	// secret in detail, rows whose id is 75 modulo 150 personal data, rows
	// whose id is CrowdAt modulo CrowdEvery a value of the crowd plan.
	ChatLogsRows = 1_000_000
	// StampSchema holds table stamp(value, seed_version) on every relational
	// server: a schema of database postgres on PostgreSQL, a database on
	// MariaDB. value is the random token in the server's dir, file stamp.
	StampSchema = "leakhound_lab"
	// DoubleQuoteTable breaks PostgreSQL's identifier quoting the way
	// InjectionTable breaks string quoting.
	DoubleQuoteTable = `dq"; DROP TABLE customers; --`
)

// sqlSeedVersion changes whenever the relational servers' data does: a
// server seeded by another version is seeded again.
const sqlSeedVersion = "3"

// sqlServer is what seeding and checking a relational server of the lab
// needs, whatever its engine: the PostgreSQL and MariaDB servers each give
// theirs (PGServer.sql, MariaDBServer.sql).
type sqlServer struct {
	name, host string
	port       int
	dir        string // the server's directory, where the file stamp is
	pidFile    string // of the process that should hold the listening socket
	// query runs one statement as the lab's admin in the stamp's database
	// and returns its output; run runs a script as the lab's admin.
	query     func(ctx context.Context, sql string) (string, error)
	run       func(ctx context.Context, script io.Reader) error
	writeSeed func(w io.Writer, stamp string) error
}

// stamp is the token the lab wrote when it made the server's directory.
func (s sqlServer) stamp() (string, error) { return readStamp(s.dir, s.name) }

// seeded reports whether the server holds this version of the seed.
func (s sqlServer) seeded(ctx context.Context) bool {
	got, err := s.query(ctx, "SELECT seed_version FROM "+StampSchema+".stamp")
	return err == nil && strings.TrimSpace(got) == sqlSeedVersion
}

// seed seeds the server unless it holds this version of the seed already.
func (s sqlServer) seed(ctx context.Context, logf Logf) error {
	if s.seeded(ctx) {
		return nil
	}
	stamp, err := s.stamp()
	if err != nil {
		return err
	}
	start := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.writeSeed(pw, stamp)) }()
	if err := s.run(ctx, pr); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("seeding: %w", err)
	}
	logf("%s: seeded %s in %s", s.name, SQLDatabase, time.Since(start).Round(time.Millisecond))
	return nil
}

// verify reports whether the server answering on its address is the lab's
// own: the process started with its pid file holds the listening socket,
// and its stamp table holds the token the lab wrote. An error wrapping
// ErrForeign means someone else's server answers there.
func (s sqlServer) verify(ctx context.Context) error {
	pid, _ := readPid(s.pidFile)
	if err := listenerOwnedBy(s.host, s.port, pid, s.name); err != nil {
		return err
	}
	want, err := s.stamp()
	if err != nil {
		return err
	}
	got, err := s.query(ctx, "SELECT value FROM "+StampSchema+".stamp")
	if err != nil {
		return fmt.Errorf("%s: reading the stamp: %w", s.name, err)
	}
	if strings.TrimSpace(got) != want {
		return fmt.Errorf("%s on %s:%d: stamp %q, the lab wrote %q: %w", s.name, s.host, s.port, strings.TrimSpace(got), want, ErrForeign)
	}
	return nil
}

// Row counts of the small tables, on every relational server.
const (
	ConversationsRows = 2000
	CustomersRows     = 5000
	IntegrationsRows  = 12
)

// sqlCol is a column and its type in each engine.
type sqlCol struct{ name, pg, my string }

// sqlTable is a table of the relational lab: its columns and a generator of
// its rows as text (numbers and times in a form both engines parse).
type sqlTable struct {
	name string
	cols []sqlCol
	rows func(emit func(row []string))
	n    int
}

var (
	colID   = sqlCol{"id", "bigint PRIMARY KEY", "BIGINT PRIMARY KEY"}
	colTime = func(name string) sqlCol { return sqlCol{name, "timestamp", "DATETIME"} }
	colText = func(name string) sqlCol { return sqlCol{name, "text", "TEXT"} }
)

const sqlTimeLayout = "2006-01-02 15:04:05"

// smallTables are on every relational server.
func smallTables() []sqlTable {
	return []sqlTable{
		{"conversations", []sqlCol{colID, colText("user_email"), colText("model"), colText("prompt"), colText("response"), colTime("created_at")},
			writeConversations, ConversationsRows},
		{"customers", []sqlCol{colID, colText("name"), colText("email"), colText("phone"), colText("national_id"), colText("card_number"), colTime("created_at")},
			writeCustomers, CustomersRows},
		{"integrations", []sqlCol{colID, colText("provider"), colText("config"), colText("connection_string"), colTime("created_at")},
			writeIntegrations, IntegrationsRows},
	}
}

// hostileTables are on the open servers: names a driver must quote in its
// queries and escape in its output. long is the longest name the engine
// allows (no engine here takes a 4 KB name: PostgreSQL truncates at
// NAMEDATALEN-1 = 63 bytes, MariaDB refuses past 64 characters).
func hostileTables(long string) []sqlTable {
	one := func(v string) func(func([]string)) { return func(emit func([]string)) { emit([]string{v}) } }
	g := gen{rand.New(rand.NewPCG(3, 3))}
	return []sqlTable{
		{InjectionTable, []sqlCol{colText("note")}, one(g.secret("github")), 1},
		{DoubleQuoteTable, []sqlCol{colText("note")}, one("nothing here"), 1},
		{BacktickTable, []sqlCol{colText("a")}, one("plain text"), 1},
		{EscapeTable, []sqlCol{colText(EscapeColumn)}, one("contact wang.fang77@163.com"), 1},
		{long, []sqlCol{colText("note")}, one("a table with the longest name the engine allows"), 1},
	}
}

// Longest table names each engine allows.
var (
	PGLongTable      = "long_" + strings.Repeat("n", 58) // 63 bytes
	MariaDBLongTable = "long_" + strings.Repeat("n", 59) // 64 characters
)

func writeConversations(emit func([]string)) {
	g := gen{rand.New(rand.NewPCG(11, 11))}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range ConversationsRows {
		prompt := g.one(promptsZH)
		if g.r.IntN(3) == 0 {
			prompt = g.one(promptsEN)
		}
		// Users paste personal data and keys into prompts.
		switch i % 50 {
		case 7:
			prompt += " " + g.pii(PIIKinds[i/50%len(PIIKinds)])
		case 31:
			prompt += " " + g.secret(SecretKinds[i/50%len(SecretKinds)])
		}
		email := strings.ToLower(g.pick(alnum[:26], 6)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		emit([]string{fmt.Sprint(i + 1), email, g.one([]string{"deepseek-chat", "deepseek-reasoner", "gpt-4o"}), prompt,
			g.one([]string{"好的，以下是修改后的版本：", "Sure, here is a summary:", "抱歉，我无法回答这个问题。"}),
			t0.Add(time.Duration(i) * 17 * time.Minute).Format(sqlTimeLayout)})
	}
}

func writeCustomers(emit func([]string)) {
	g := gen{rand.New(rand.NewPCG(12, 12))}
	names := []string{"王芳", "李伟", "张敏", "刘洋", "陈静", "Maria Garcia", "James Smith", "Aiko Tanaka"}
	t0 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range CustomersRows {
		email := strings.ToLower(g.pick(alnum[:26], 7)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		phone := "1" + g.one([]string{"3", "5", "8"}) + g.pick("0123456789", 9)
		emit([]string{fmt.Sprint(i + 1), g.one(names), email, phone, cnID(g),
			luhnNumber(g, g.one([]string{"4", "51", "62"}), 16), t0.Add(time.Duration(i) * time.Minute).Format(sqlTimeLayout)})
	}
}

func writeIntegrations(emit func([]string)) {
	g := gen{rand.New(rand.NewPCG(13, 13))}
	dsns := []string{
		"postgres://svc_backend:" + g.pick(alnum, 16) + "@pg-primary.internal:5432/prod",
		"mysql://billing:" + g.pick(alnum, 14) + "@10.0.3.4:3306/billing",
		"mongodb+srv://etl:" + g.pick(alnum, 18) + "@cluster0.example.mongodb.net/events",
		"redis://:" + g.pick(alnum, 20) + "@cache.internal:6379/0",
	}
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range IntegrationsRows {
		kind := SecretKinds[i%len(SecretKinds)]
		emit([]string{fmt.Sprint(i + 1), kind, g.secret(kind), dsns[i%len(dsns)], t0.AddDate(0, 0, 9*i).Format(sqlTimeLayout)})
	}
}

// chatLogs is the big table. Its plain rows are generated by the server
// itself (see the engines' fill); writeChatLogSpecials emits the rows that
// carry a planted value.
func chatLogs() sqlTable {
	return sqlTable{"chat_logs", []sqlCol{colID, colTime("ts"), colText("service"), colText("model"), colText("prompt"), colText("detail")},
		writeChatLogSpecials, ChatLogsRows}
}

// chatLogPlain is the condition, on id column c, for rows the server generates.
func chatLogPlain(c string) string {
	return fmt.Sprintf("%[1]s %% 400 <> 200 AND %[1]s %% 150 <> 75 AND %[1]s %% %[2]d <> %[3]d", c, CrowdEvery, CrowdAt)
}

var (
	chatServices = []string{"chat-backend", "api-gateway", "worker"}
	chatModels   = []string{"deepseek-chat", "deepseek-reasoner", "gpt-4o"}
)

// chatPrompts are the prompts the server picks from, by id.
func chatPrompts() []string { return append(append([]string(nil), promptsZH...), promptsEN...) }

var chatT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func writeChatLogSpecials(emit func([]string)) {
	g := gen{rand.New(rand.NewPCG(14, 14))}
	prompts := chatPrompts()
	for id := 1; id <= ChatLogsRows; id++ {
		var detail string
		switch {
		case id%400 == 200:
			detail = g.bigSecret(SecretKinds[g.r.IntN(len(SecretKinds))])
		case id%150 == 75:
			detail = g.pii(PIIKinds[g.r.IntN(len(PIIKinds))])
		default:
			continue
		}
		emit([]string{fmt.Sprint(id), chatT0.Add(time.Duration(id) * 2592 * time.Millisecond).Format(sqlTimeLayout),
			chatServices[id%len(chatServices)], chatModels[id%len(chatModels)], prompts[id%len(prompts)], detail})
	}
	// The crowd plan's rows come after, so the rows above fill the same
	// pages as before it: PostgreSQL's TABLESAMPLE reads the same ones.
	for id := CrowdAt; id <= ChatLogsRows; id += CrowdEvery {
		emit([]string{fmt.Sprint(id), chatT0.Add(time.Duration(id) * 2592 * time.Millisecond).Format(sqlTimeLayout),
			chatServices[id%len(chatServices)], chatModels[id%len(chatModels)], prompts[id%len(prompts)], crowded(id)})
	}
}

// randomStamp is the token a lab server keeps in its stamp table.
func randomStamp() string {
	return fmt.Sprintf("lab-%016x", rand.Uint64())
}
