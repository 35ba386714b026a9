package lab

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Hostile names the scanner must inventory, sample and print without harm.
const (
	InjectionTable = "x'; DROP TABLE t; --"
	BacktickTable  = "we`ird\\name"
	EscapeTable    = "esc\x1b]0;pwned\x07\x1b[31mred"
	EscapeColumn   = "c\x1b[2Jol"
	// KeyValueTable holds settings as key/value rows (k, v), one of them a
	// secret whose name is only in k, and a value whose token starts past
	// byte 8,192.
	KeyValueTable = "app_settings"
)

// table is one lab table: how to create it and how to fill it.
type table struct {
	server Server
	db     string
	name   string
	schema string // column list and engine
	rows   int
	fill   func(w io.Writer) error
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}

func (t table) ref() string { return quoteIdent(t.db) + "." + quoteIdent(t.name) }

func tables() []table {
	return []table{
		{Open, "default", "log_stream",
			"(timestamp DateTime, span_name String, string Nested(names String, values String), _service String, _source String) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (_service, timestamp)",
			LogStreamRows, func(w io.Writer) error { return WriteLogStream(w, LogStreamRows, 1) }},
		{Open, PlainLogStream.Database, PlainLogStream.Table,
			"(timestamp DateTime, span_name String, string Nested(names String, values String), _service String, _source String) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (_service, timestamp)",
			PlainLogRows, func(w io.Writer) error { return WritePlainLogStream(w, PlainLogRows, 1) }},
		{Open, "default", "users",
			"(id UInt32, name String, email String, phone String, id_card String, created DateTime) ENGINE = MergeTree ORDER BY id",
			5000, func(w io.Writer) error { return writeUsers(w, 5000, 2) }},
		{Open, "analytics", "page_views",
			"(ts DateTime, path String, status UInt16, duration_ms UInt32) ENGINE = MergeTree ORDER BY ts",
			20000, writePageViews},
		{Open, "default", InjectionTable, "(note String) ENGINE = TinyLog", 2, func(w io.Writer) error {
			g := gen{rand.New(rand.NewPCG(3, 3))}
			_, err := fmt.Fprintf(w, "%s\nnothing here\n", tsvEscape(g.secret("github")))
			return err
		}},
		{Open, "default", BacktickTable, "(a String) ENGINE = Log", 1, func(w io.Writer) error {
			_, err := io.WriteString(w, "plain text\n")
			return err
		}},
		{Open, "default", EscapeTable, "(" + quoteIdent(EscapeColumn) + " String) ENGINE = TinyLog", 1, func(w io.Writer) error {
			_, err := io.WriteString(w, "contact wang.fang77@163.com\n")
			return err
		}},
		// Settings kept as key/value rows: the secret's name is in k, the
		// secret in v; and a value whose token starts past byte 8,192.
		{Open, "default", KeyValueTable, "(k String, v String) ENGINE = TinyLog", 3, func(w io.Writer) error {
			g := gen{rand.New(rand.NewPCG(9, 9))}
			_, err := fmt.Fprintf(w, "region\tcn-north-1\naws_secret_access_key\t%s\nrelease_notes\t%s %s\n",
				g.pick(alnum, 40), strings.Repeat("filler text ", 2000), tsvEscape(g.secret("github")))
			return err
		}},
		{Readonly, "default", "events",
			"(ts DateTime, payload String) ENGINE = MergeTree ORDER BY ts", 2000, writeEvents},
		{TLS, "default", "sessions",
			"(ts DateTime, token String) ENGINE = MergeTree ORDER BY ts", 500, func(w io.Writer) error {
				g := gen{rand.New(rand.NewPCG(8, 8))}
				for i := range 500 {
					fmt.Fprintf(w, "2025-01-01 00:%02d:%02d\t%s\n", i/60%60, i%60, tsvEscape(g.secret("jwt")))
				}
				return nil
			}},
		{Locked, "default", "customers",
			"(email String) ENGINE = MergeTree ORDER BY email", 100, func(w io.Writer) error {
				g := gen{rand.New(rand.NewPCG(4, 4))}
				for range 100 {
					fmt.Fprintf(w, "%s\n", tsvEscape(g.pii("email")))
				}
				return nil
			}},
	}
}

func writeUsers(w io.Writer, n int, seed uint64) error {
	g := gen{rand.New(rand.NewPCG(seed, 7))}
	names := []string{"王芳", "李伟", "张敏", "刘洋", "陈静", "Maria Garcia", "James Smith", "Aiko Tanaka"}
	t0 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		email := strings.ToLower(g.pick(alnum[:26], 7)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		phone := "1" + g.one([]string{"3", "5", "8"}) + g.pick("0123456789", 9)
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, g.one(names), email, phone, cnID(g), t0.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"))
	}
	return nil
}

func writePageViews(w io.Writer) error {
	g := gen{rand.New(rand.NewPCG(5, 5))}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20000 {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", t0.Add(time.Duration(i)*time.Second).Format("2006-01-02 15:04:05"),
			g.one([]string{"/", "/pricing", "/docs/quickstart", "/blog/2025/launch", "/login"}), 200, g.r.IntN(900))
	}
	return nil
}

func writeEvents(w io.Writer) error {
	g := gen{rand.New(rand.NewPCG(6, 6))}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		payload := `{"event":"sync","ok":true}`
		switch i % 97 {
		case 13:
			payload = g.secret("deepseek")
		case 41:
			payload = g.pii("email")
		}
		fmt.Fprintf(w, "%s\t%s\n", t0.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), tsvEscape(payload))
	}
	return nil
}

// seedVersion changes whenever the generated data does: a lab seeded by
// another version is seeded again.
const seedVersion = "3"

// seed creates and fills every lab table that is missing, incomplete or
// from another seed version, then merges its parts so no background merge
// runs during a test.
func seed(ctx context.Context, logf Logf) error {
	stale := map[string]bool{}
	for _, s := range Servers {
		b, _ := os.ReadFile(filepath.Join(s.dir(), "seed-version"))
		stale[s.Name] = strings.TrimSpace(string(b)) != seedVersion
	}
	for _, t := range tables() {
		s := t.server
		if _, err := s.Admin(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(t.db)); err != nil {
			return err
		}
		got, err := s.Admin(ctx, "SELECT count() FROM "+t.ref())
		if err == nil && strings.TrimSpace(got) == fmt.Sprint(t.rows) && !stale[s.Name] {
			continue
		}
		start := time.Now()
		if _, err := s.Admin(ctx, "DROP TABLE IF EXISTS "+t.ref()); err != nil {
			return err
		}
		if _, err := s.Admin(ctx, "CREATE TABLE "+t.ref()+" "+t.schema); err != nil {
			return fmt.Errorf("creating %s on %s: %w", t.ref(), s.Name, err)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(t.fill(pw)) }()
		if _, err := s.adminBody(ctx, "INSERT INTO "+t.ref()+" FORMAT TabSeparated", pr); err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("filling %s on %s: %w", t.ref(), s.Name, err)
		}
		if strings.Contains(t.schema, "MergeTree") {
			if _, err := s.Admin(ctx, "OPTIMIZE TABLE "+t.ref()+" FINAL"); err != nil {
				return err
			}
		}
		logf("%s: seeded %s.%q with %d rows in %s", s.Name, t.db, t.name, t.rows, time.Since(start).Round(time.Millisecond))
	}
	for _, s := range Servers {
		if err := os.WriteFile(filepath.Join(s.dir(), "seed-version"), []byte(seedVersion+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
