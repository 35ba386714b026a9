package lab

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// MongoServer is one MongoDB-protocol server of the lab: FerretDB 1.x on
// its SQLite backend (Debian ships no mongod), its own state under
// Dir()/Name, listening on Host:Port only. The lab's own client for
// seeding and snapshots is MongoDB's Go driver, never the scanner's code.
type MongoServer struct {
	Name string
	Host string
	Port int
	// Locked: authentication is on (FerretDB's new authentication, with
	// the lab's admin as its setup user); a client without credentials
	// gets code 13 Unauthorized.
	Locked bool
	// TLS: the port speaks TLS only, with the lab's self-signed certificate.
	TLS bool
	// Full servers hold the product database with its big collection, the
	// hostile names and a ransom note.
	Full bool
}

// EngineMongoDB is the lab's name for its MongoDB-protocol servers.
const EngineMongoDB = "mongodb"

// FerretDBVersion is the FerretDB the lab builds; v1 is the last with the
// SQLite backend (v2 needs PostgreSQL with DocumentDB).
const FerretDBVersion = "v1.24.2"

var (
	MongoOpen    = MongoServer{Name: "mongodb-open", Host: "127.0.0.16", Port: 27017, Full: true}
	MongoLocked  = MongoServer{Name: "mongodb-locked", Host: "127.0.0.17", Port: 27017, Locked: true}
	MongoTLS     = MongoServer{Name: "mongodb-tls", Host: "127.0.0.18", Port: 27017, TLS: true}
	MongoServers = []MongoServer{MongoOpen, MongoLocked, MongoTLS}
)

// Sizes of the MongoDB lab's collections. ChatLogsDocs is not the
// issue's 1,000,000: FerretDB on SQLite inserts about 6,000 documents a
// second on the lab's 2-core machine, so a million would take minutes;
// this size keeps the whole seed well under a minute.
const (
	MongoChatLogsDocs = 100_000
	// MongoRansomDatabase holds the note a wiper leaves, on the open server.
	MongoRansomDatabase   = "READ_ME_TO_RECOVER_YOUR_DATA"
	MongoRansomCollection = "README"
	mongoSeedVersion      = "2"
)

func init() {
	name := func(s MongoServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }
	RegisterEngine(Engine{
		Name: EngineMongoDB,
		Up: func(ctx context.Context, logf Logf) error {
			if _, err := ferretdbBin(ctx, logf); err != nil {
				return err
			}
			return upEach(ctx, logf, MongoServers, name, MongoServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, MongoServers, func(s MongoServer) string { return s.Name }, MongoServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range MongoServers {
				how := "no password"
				if s.Locked {
					how = "authentication required"
				}
				if s.TLS {
					how += ", TLS"
				}
				fmt.Fprintf(w, "%-18s ferretdb   %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

func (s MongoServer) dir() string { return filepath.Join(Dir(), s.Name) }

// ferretdbBin returns FerretDB's binary, building it once from the Go
// module's source: a plain `go install` builds a binary that refuses to
// start, for want of the generated build/version/version.txt, which the
// build writes. The binary is cached under the user's cache directory, so
// a lab brought up again does not build it again.
func ferretdbBin(ctx context.Context, logf Logf) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "leakhound-lab", "ferretdb-"+FerretDBVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	start := time.Now()
	logf("ferretdb: building FerretDB %s from its Go module (once; cached at %s)", FerretDBVersion, bin)
	out, err := exec.CommandContext(ctx, goBin, "mod", "download", "-json", "github.com/FerretDB/FerretDB@"+FerretDBVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download FerretDB %s: %w", FerretDBVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download FerretDB %s: no directory in %q", FerretDBVersion, out)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	build := filepath.Join(cache, "leakhound-lab", "ferretdb-build")
	os.RemoveAll(build)
	if out, err := exec.CommandContext(ctx, "cp", "-r", mod.Dir, build).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying FerretDB's source: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", build).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chmod FerretDB's source: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(build, "build", "version", "version.txt"), []byte(FerretDBVersion+"\n"), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin+".tmp", "./cmd/ferretdb")
	cmd.Dir = build
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build FerretDB: %v: %s", err, lastLines(out, 8))
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", err
	}
	os.RemoveAll(build)
	logf("ferretdb: built in %s", time.Since(start).Round(time.Second))
	return bin, nil
}

func (s MongoServer) up(ctx context.Context, logf Logf) error {
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	return s.seed(ctx, logf)
}

func (s MongoServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		if err := s.Verify(ctx); err != nil && !errors.Is(err, errUnseeded) {
			return err
		}
		logf("%s: already running on %s:%d", s.Name, s.Host, s.Port)
		return nil
	}
	if err := checkFree(s.Host, s.Port); err != nil {
		return err
	}
	bin, err := ferretdbBin(ctx, logf)
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir(), "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.dir(), "stamp")); err != nil {
		if err := os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(randomStamp()+"\n"), 0o644); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("%s:%d", s.Host, s.Port)
	// No telemetry (it would reach beacon.ferretdb.com), no debug listener.
	args := []string{"--handler=sqlite", "--sqlite-url=file:" + data + "/", "--state-dir=" + s.dir(),
		"--debug-addr=-", "--telemetry=disable", "--log-level=warn", "--test-batch-size=1000"}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
		args = append(args, "--listen-addr=", "--listen-tls="+addr,
			"--listen-tls-cert-file="+filepath.Join(s.dir(), "server.crt"), "--listen-tls-key-file="+filepath.Join(s.dir(), "server.key"))
	} else {
		args = append(args, "--listen-addr="+addr)
	}
	if s.Locked {
		args = append(args, "--test-enable-new-auth", "--setup-database=admin", "--setup-username="+AdminUser, "--setup-password="+AdminPassword)
	}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = s.dir()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	return startAndWait(ctx, logf, s.Name, "ferretdb on "+addr, filepath.Join(s.dir(), "stdout.log"), filepath.Join(s.dir(), "pid"), mk, s.ping)
}

// client connects as the lab's admin: no credentials on servers without
// authentication, the setup user (SCRAM) on the locked one.
func (s MongoServer) client(ctx context.Context) (*mongo.Client, error) {
	o := options.Client().SetHosts([]string{fmt.Sprintf("%s:%d", s.Host, s.Port)}).SetDirect(true).
		SetConnectTimeout(5 * time.Second).SetServerSelectionTimeout(5 * time.Second).SetTimeout(10 * time.Minute)
	if s.Locked {
		o.SetAuth(options.Credential{AuthSource: "admin", Username: AdminUser, Password: AdminPassword, AuthMechanism: "SCRAM-SHA-256"})
	}
	if s.TLS {
		o.SetTLSConfig(&tls.Config{InsecureSkipVerify: true}) // the lab's own self-signed certificate
	}
	return mongo.Connect(ctx, o)
}

// admin runs f with a connected admin client.
func (s MongoServer) admin(ctx context.Context, f func(c *mongo.Client) error) error {
	c, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	if err := f(c); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

func (s MongoServer) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.admin(ctx, func(c *mongo.Client) error {
		return c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
	})
}

var errUnseeded = errors.New("not seeded yet")

// Verify reports whether the server answering on s.Host:s.Port is the
// lab's own: the FerretDB started with its pid file holds the listening
// socket, and its stamp collection holds the token the lab wrote. An error
// wrapping ErrForeign means someone else's server answers there.
func (s MongoServer) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	if err := listenerOwnedBy(s.Host, s.Port, pid, s.Name); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(), "stamp"))
	if err != nil {
		return fmt.Errorf("%s: the lab's stamp: %w", s.Name, err)
	}
	want := strings.TrimSpace(string(b))
	var got struct {
		Value       string `bson:"value"`
		SeedVersion string `bson:"seed_version"`
	}
	err = s.admin(ctx, func(c *mongo.Client) error {
		return c.Database(StampSchema).Collection("stamp").FindOne(ctx, bson.D{}).Decode(&got)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%s: %w", s.Name, errUnseeded)
	}
	if err != nil {
		return fmt.Errorf("%s: reading the stamp: %w", s.Name, err)
	}
	if got.Value != want {
		return fmt.Errorf("%s on %s:%d: stamp %q, the lab wrote %q: %w", s.Name, s.Host, s.Port, got.Value, want, ErrForeign)
	}
	return nil
}

func (s MongoServer) seeded(ctx context.Context) bool {
	var got struct {
		SeedVersion string `bson:"seed_version"`
	}
	err := s.admin(ctx, func(c *mongo.Client) error {
		return c.Database(StampSchema).Collection("stamp").FindOne(ctx, bson.D{}).Decode(&got)
	})
	return err == nil && got.SeedVersion == mongoSeedVersion
}

// seed fills the server unless it holds this version of the seed; the
// stamp comes last, so an interrupted seed is done again from the start.
func (s MongoServer) seed(ctx context.Context, logf Logf) error {
	if s.seeded(ctx) {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(s.dir(), "stamp"))
	if err != nil {
		return err
	}
	stamp := strings.TrimSpace(string(b))
	start := time.Now()
	err = s.admin(ctx, func(c *mongo.Client) error {
		db := c.Database(SQLDatabase)
		if err := db.Drop(ctx); err != nil {
			return err
		}
		for _, col := range s.collections() {
			if err := insertAll(ctx, db.Collection(col.name), col.docs); err != nil {
				return fmt.Errorf("seeding %s: %w", col.name, err)
			}
		}
		if s.Full {
			note := c.Database(MongoRansomDatabase).Collection(MongoRansomCollection)
			note.Drop(ctx)
			if _, err := note.InsertOne(ctx, bson.D{{Key: "content", Value: RansomNote}}); err != nil {
				return err
			}
		}
		st := c.Database(StampSchema).Collection("stamp")
		st.Drop(ctx)
		_, err := st.InsertOne(ctx, bson.D{{Key: "value", Value: stamp}, {Key: "seed_version", Value: mongoSeedVersion}})
		return err
	})
	if err != nil {
		return err
	}
	logf("%s: seeded %s in %s", s.Name, SQLDatabase, time.Since(start).Round(time.Millisecond))
	return nil
}

// RansomNote is the note the lab leaves where a wiper would: the text the
// 2017-2020 MongoDB wipers left, with a synthetic bitcoin address.
const RansomNote = "All your data is backed up. You must pay 0.0051 BTC to 1KfGZAbJ4nHRtJ2R3hq7V2mGxxLBtW8d3f " +
	"In 48 hours, your data will be publicly disclosed and deleted. To recover your lost data contact recover@onionmail.example with your DB IP."

type mongoCollection struct {
	name string
	docs func(emit func(bson.D))
}

// collections are what s holds in database aiapp: the relational lab's
// tables as documents, conversations with messages arrays, and on the
// open server the big chat_logs and the hostile names.
func (s MongoServer) collections() []mongoCollection {
	rowDocs := func(t sqlTable) func(func(bson.D)) {
		return func(emit func(bson.D)) {
			t.rows(func(row []string) {
				d := make(bson.D, 0, len(row))
				for i, c := range t.cols {
					var v any = row[i]
					if c.name == "id" {
						n, _ := strconv.Atoi(row[i])
						c.name, v = "_id", n
					}
					d = append(d, bson.E{Key: c.name, Value: v})
				}
				emit(d)
			})
		}
	}
	var out []mongoCollection
	for _, t := range smallTables() {
		if t.name == "conversations" {
			out = append(out, mongoCollection{t.name, mongoConversations})
			continue
		}
		out = append(out, mongoCollection{t.name, rowDocs(t)})
	}
	if !s.Full {
		return out
	}
	for _, t := range hostileTables(MongoLongCollection) {
		if t.name == DoubleQuoteTable {
			continue // one string-quoting name is enough where nothing is quoted in SQL
		}
		if t.name == EscapeTable {
			// FerretDB 1.x stores a field name holding ESC as JSON it
			// cannot read back: the name of the collection is the test.
			t.cols = []sqlCol{colText("note")}
		}
		out = append(out, mongoCollection{t.name, rowDocs(t)})
	}
	return append(out, mongoCollection{"chat_logs", mongoChatLogs})
}

// MongoLongCollection is a long collection name (FerretDB 1.x allows 235
// bytes of database and collection name together).
var MongoLongCollection = "long_" + strings.Repeat("n", 120)

// mongoConversations are the relational lab's conversations as chat
// documents: a messages array of role/content, the prompt (Chinese or
// English, some carrying personal data or a key) first.
func mongoConversations(emit func(bson.D)) {
	writeConversations(func(row []string) {
		id, _ := strconv.Atoi(row[0])
		emit(bson.D{{Key: "_id", Value: id}, {Key: "user_email", Value: row[1]}, {Key: "model", Value: row[2]},
			{Key: "messages", Value: bson.A{
				bson.D{{Key: "role", Value: "user"}, {Key: "content", Value: row[3]}},
				bson.D{{Key: "role", Value: "assistant"}, {Key: "content", Value: row[4]}},
			}}, {Key: "created_at", Value: row[5]}})
	})
}

// mongoChatLogs is the big collection: every 400th document carries a
// secret in detail, every 150th personal data, as the relational chat_logs.
func mongoChatLogs(emit func(bson.D)) {
	g := gen{rand.New(rand.NewPCG(15, 15))}
	prompts := chatPrompts()
	for id := 1; id <= MongoChatLogsDocs; id++ {
		d := bson.D{{Key: "_id", Value: id}, {Key: "ts", Value: chatT0.Add(time.Duration(id) * 2592 * time.Millisecond)},
			{Key: "service", Value: chatServices[id%len(chatServices)]}, {Key: "model", Value: chatModels[id%len(chatModels)]},
			{Key: "messages", Value: bson.A{bson.D{{Key: "role", Value: "user"}, {Key: "content", Value: prompts[id%len(prompts)]}}}}}
		switch {
		case id%400 == 200:
			d = append(d, bson.E{Key: "detail", Value: g.secret(SecretKinds[g.r.IntN(len(SecretKinds))])})
		case id%150 == 75:
			d = append(d, bson.E{Key: "detail", Value: g.pii(PIIKinds[g.r.IntN(len(PIIKinds))])})
		}
		emit(d)
	}
}

func insertAll(ctx context.Context, c *mongo.Collection, docs func(func(bson.D))) error {
	var batch []any
	var err error
	flush := func() {
		if err == nil && len(batch) > 0 {
			_, err = c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		}
		batch = batch[:0]
	}
	docs(func(d bson.D) {
		batch = append(batch, d)
		if len(batch) == 5000 {
			flush()
		}
	})
	flush()
	return err
}

// Snapshot is what a read-only assessment of s must leave as it was: the
// databases, each collection with its type and document count, its
// indexes, and the users, read as the lab's admin with MongoDB's own Go
// driver (never the scanner's code).
func (s MongoServer) Snapshot(ctx context.Context) (string, error) {
	var b strings.Builder
	err := s.admin(ctx, func(c *mongo.Client) error {
		names, err := c.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			return err
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "databases %q\n", names)
		for _, dbName := range names {
			db := c.Database(dbName)
			specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
			if err != nil {
				return fmt.Errorf("collections of %q: %w", dbName, err)
			}
			sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
			for _, sp := range specs {
				// collStats' count: FerretDB answers it from SQLite's own
				// count, where a count command decodes every document.
				var st bson.M
				if err := db.RunCommand(ctx, bson.D{{Key: "collStats", Value: sp.Name}}).Decode(&st); err != nil {
					// FerretDB 1.x cannot size some hostile names: count them.
					n, cerr := db.Collection(sp.Name).EstimatedDocumentCount(ctx)
					if cerr != nil {
						return fmt.Errorf("count of %q.%q: %w", dbName, sp.Name, cerr)
					}
					st = bson.M{"count": n}
				}
				fmt.Fprintf(&b, "%q.%q %s %v", dbName, sp.Name, sp.Type, st["count"])
				cur, err := db.Collection(sp.Name).Indexes().List(ctx)
				if err == nil {
					var idx []bson.M
					cur.All(ctx, &idx)
					for _, ix := range idx {
						fmt.Fprintf(&b, " index %v", ix["name"])
					}
				}
				b.WriteByte('\n')
			}
		}
		var users bson.M
		if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "usersInfo", Value: 1}}).Decode(&users); err == nil {
			fmt.Fprintf(&b, "users %v\n", users["users"])
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	return b.String(), nil
}

func (s MongoServer) stop() error {
	return stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "ferretdb")
}
