package classify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// Keys are made by the tests, never kept in the repository.

var rsaTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemText(label string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: label, Bytes: der}))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// opensshKey writes an unencrypted ed25519 key in the openssh-key-v1
// format, wrapped at 70 columns, as ssh-keygen does.
func opensshKey() string {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	str := func(b, s []byte) []byte { return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...) }
	check := binary.BigEndian.Uint32(randomBytes(4))
	var block []byte
	block = binary.BigEndian.AppendUint32(block, check)
	block = binary.BigEndian.AppendUint32(block, check)
	block = str(block, []byte("ssh-ed25519"))
	block = str(block, pub)
	block = str(block, priv)
	block = str(block, []byte("test@leakhound"))
	for i := byte(1); len(block)%8 != 0; i++ {
		block = append(block, i)
	}
	out := []byte("openssh-key-v1\x00")
	out = str(out, []byte("none"))
	out = str(out, []byte("none"))
	out = str(out, nil)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = str(out, str(str(nil, []byte("ssh-ed25519")), pub))
	out = str(out, block)
	b64 := base64.StdEncoding.EncodeToString(out)
	var s strings.Builder
	s.WriteString("-----BEGIN OPENSSH PRIVATE KEY-----\n")
	for len(b64) > 70 {
		s.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	s.WriteString(b64 + "\n-----END OPENSSH PRIVATE KEY-----\n")
	return s.String()
}

// testKeyFiles returns key files as tools write them, by name.
func testKeyFiles(t testing.TB) map[string]string {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaTestKey())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"openssl genrsa (PKCS #1)":    pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaTestKey())),
		"openssl genpkey (PKCS #8)":   pemText("PRIVATE KEY", rsaDER),
		"PKCS #8 ed25519":             pemText("PRIVATE KEY", edDER),
		"openssl ecparam -genkey":     pemText("EC PRIVATE KEY", ecDER),
		"ssh-keygen -t ed25519":       opensshKey(),
		"openssl pkcs8 -topk8 -v2":    pemText("ENCRYPTED PRIVATE KEY", randomBytes(1218)),
		"openssl gendsa":              pemText("DSA PRIVATE KEY", randomBytes(443)),
		"openssl genrsa -traditional": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,0F1E2D3C4B5A69788796A5B4C3D2E1F0"}, Bytes: randomBytes(1200)})),
	}
}

// keyForms are the ways a key file turns up inside another file: the
// BEGIN line's number (1-based) and the offset of its marker follow from
// the prefix.
var keyForms = []struct {
	name           string
	before, after  string // whole lines
	indent, suffix string
	prefix         string // on the BEGIN line, before the marker
	crlf           bool
}{
	{name: "as written"},
	{name: "CRLF", crlf: true},
	{name: "in a YAML block", before: "tls:\n  key: |\n", indent: "    "},
	{name: "in a Python string", before: "# deploy\n", prefix: `KEY = """`, suffix: `"""`, after: "print(KEY)\n"},
	{name: "between other findings", before: "owner li.wei88@qq.com\n", after: "contact wang.fang@163.com\n"},
}

func formKey(key string, f int) (text string, line, start int) {
	form := keyForms[f]
	lines := strings.Split(strings.TrimSuffix(key, "\n"), "\n")
	var b strings.Builder
	b.WriteString(form.before)
	for i, l := range lines {
		if i == 0 {
			l = form.prefix + l
		}
		if i == len(lines)-1 {
			l += form.suffix
		}
		b.WriteString(form.indent + l)
		if form.crlf {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	b.WriteString(form.after)
	return b.String(), strings.Count(form.before, "\n") + 1, len(form.indent) + len(form.prefix)
}

func scanAll(t testing.TB, e *Engine, input string) []Finding {
	t.Helper()
	var got []Finding
	if err := e.ScanReader(context.Background(), strings.NewReader(input), "f", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMultiLinePrivateKeysInFiles: a key file as ssh-keygen or openssl
// write it, alone or inside another file, is one detection on its BEGIN
// line, whatever the chunk boundaries; its fingerprint is the one the key
// has in a datastore value and as one line with \n escapes.
func TestMultiLinePrivateKeysInFiles(t *testing.T) {
	e := Default().WithKey(testKey(t))
	defer func(c, m int) { chunkSize, maxLine = c, m }(chunkSize, maxLine)
	for name, key := range testKeyFiles(t) {
		label := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(key, "\n", 2)[0], "-----BEGIN "), "-----")
		marker := "-----BEGIN " + label + "-----"
		// In a datastore value, the engine sees the whole key at once.
		inValue := e.Scan(key)
		if len(inValue) != 1 || inValue[0].Kind != "private_key" {
			t.Errorf("%s: Scan(the key file as a value) = %+v, want one private_key", name, inValue)
			continue
		}
		want := inValue[0].Fingerprint
		oneLine := `{"key":"` + strings.ReplaceAll(key, "\n", `\n`) + `"}`
		if ds := e.Scan(oneLine); len(ds) != 1 || ds[0].Fingerprint != want {
			t.Errorf("%s: with \\n escapes on one line: %+v, want the fingerprint %s", name, ds, want)
		}
		for f, form := range keyForms {
			text, line, start := formKey(key, f)
			for _, size := range []int{1 << 20, 4096, 333} {
				chunkSize, maxLine = size, 1<<20
				var keys, others []Finding
				for _, d := range scanAll(t, e, text) {
					if d.Kind == "private_key" {
						keys = append(keys, d)
					} else {
						others = append(others, d)
					}
				}
				where := fmt.Sprintf("%s %s (chunks of %d)", name, form.name, size)
				if len(keys) != 1 {
					t.Errorf("%s: %d private keys found, want 1: %+v", where, len(keys), keys)
					continue
				}
				k := keys[0]
				if k.Line != line || k.Start != start || k.End != start+len(marker) {
					t.Errorf("%s: key at line %d bytes %d-%d, want line %d bytes %d-%d", where, k.Line, k.Start, k.End, line, start, start+len(marker))
				}
				if k.Redacted != marker+"…" {
					t.Errorf("%s: Redacted = %q, want %q", where, k.Redacted, marker+"…")
				}
				if k.Fingerprint != want {
					t.Errorf("%s: fingerprint %s, want %s as in a value", where, k.Fingerprint, want)
				}
				if n := strings.Count(form.before+form.after, "@"); len(others) != n {
					t.Errorf("%s: other findings %+v, want %d emails", where, others, n)
				}
			}
		}
	}
}

// TestPEMFingerprintIsOfTheStandardForm: a user can fingerprint a key they
// hold from its PEM encoding as Go's encoding/pem writes it.
func TestPEMFingerprintIsOfTheStandardForm(t *testing.T) {
	e := Default().WithKey(testKey(t))
	der, _ := x509.MarshalPKCS8PrivateKey(rsaTestKey())
	std := pemText("PRIVATE KEY", der)
	// Wrapped at 76 columns, indented, CRLF: the same key.
	b64 := base64.StdEncoding.EncodeToString(der)
	var odd strings.Builder
	odd.WriteString("  -----BEGIN PRIVATE KEY-----\r\n")
	for len(b64) > 76 {
		odd.WriteString("  " + b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	odd.WriteString("  " + b64 + "\r\n  -----END PRIVATE KEY-----\r\n")
	got := scanAll(t, e, odd.String())
	if len(got) != 1 || got[0].Fingerprint != e.key.fingerprint(std) {
		t.Errorf("findings %+v, want one with the fingerprint of the key's standard PEM form", got)
	}
}

func TestPEMBlocksThatAreNotKeys(t *testing.T) {
	e := Default().WithKey(testKey(t))
	key := pemText("EC PRIVATE KEY", randomBytes(121))
	body := strings.TrimSuffix(strings.SplitN(key, "\n", 2)[1], "-----END EC PRIVATE KEY-----\n")
	for _, tt := range []struct{ name, text string }{
		{"certificate", pemText("CERTIFICATE", randomBytes(400))},
		{"public key", pemText("PUBLIC KEY", randomBytes(294))},
		{"no END line", "-----BEGIN EC PRIVATE KEY-----\n" + body},
		{"END of another type", "-----BEGIN EC PRIVATE KEY-----\n" + body + "-----END RSA PRIVATE KEY-----\n"},
		{"prose after BEGIN", "-----BEGIN EC PRIVATE KEY-----\nthis is where the key would go, ask li.wei88@qq.com\n" + body + "-----END EC PRIVATE KEY-----\n"},
		{"placeholder", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n"},
		{"BEGIN line in prose", "the file starts with -----BEGIN RSA PRIVATE KEY----- and more\n" + body},
	} {
		for _, d := range scanAll(t, e, tt.text) {
			if d.Kind == "private_key" {
				t.Errorf("%s: found %+v, want no private key", tt.name, d)
			}
		}
	}
	// What other rules find in a block that is not a key is kept, in order.
	text := "a li.wei88@qq.com\n-----BEGIN EC PRIVATE KEY-----\nsee wang.fang@163.com\n" + body + "zhang.san@qq.com\n"
	var emails []int
	for _, d := range scanAll(t, e, text) {
		emails = append(emails, d.Line)
	}
	if fmt.Sprint(emails) != fmt.Sprint([]int{1, 3, strings.Count(text, "\n")}) {
		t.Errorf("findings on lines %v, want the three emails on lines 1, 3 and %d", emails, strings.Count(text, "\n"))
	}
}

// TestPEMInARow: a datastore value holding a key file is found by the
// engine the scan path calls per cell.
func TestPEMInARow(t *testing.T) {
	e := Default().WithKey(testKey(t))
	key := testKeyFiles(t)["openssl genrsa (PKCS #1)"]
	for name, v := range map[string]string{
		"alone":       key,
		"CRLF":        strings.ReplaceAll(key, "\n", "\r\n"),
		"in a config": "[tls]\ncert = /etc/ssl/x.pem\nkey = \"\"\"\n" + key + "\"\"\"\n" + strings.Repeat("# padding\n", 3000),
	} {
		ds := e.Scan(v)
		if len(ds) != 1 || ds[0].Kind != "private_key" || ds[0].Fingerprint != e.Fingerprint(key) {
			t.Errorf("%s: Scan = %+v, want one private_key with the key's fingerprint", name, ds)
		}
	}
}

// TestPEMFromRealTools runs ssh-keygen and openssl where they are
// installed: their output, not ours, is what users' files hold.
func TestPEMFromRealTools(t *testing.T) {
	dir := t.TempDir()
	tools := []struct {
		name string
		args []string
		file string
	}{
		{"ssh-keygen ed25519", []string{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "id_ed25519"}, "id_ed25519"},
		{"ssh-keygen rsa", []string{"ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", "id_rsa"}, "id_rsa"},
		{"ssh-keygen ecdsa PEM", []string{"ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f", "id_ecdsa"}, "id_ecdsa"},
		{"openssl genrsa -traditional", []string{"openssl", "genrsa", "-traditional", "-out", "rsa.pem", "2048"}, "rsa.pem"},
		{"openssl genrsa -aes128 -traditional", []string{"openssl", "genrsa", "-traditional", "-aes128", "-passout", "pass:test", "-out", "rsa-enc.pem", "2048"}, "rsa-enc.pem"},
		{"openssl genpkey ed25519", []string{"openssl", "genpkey", "-algorithm", "ed25519", "-out", "ed.pem"}, "ed.pem"},
		{"openssl genpkey encrypted", []string{"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc", "-pass", "pass:test", "-out", "ec-enc.pem"}, "ec-enc.pem"},
		{"openssl ecparam -genkey", []string{"openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ec.pem"}, "ec.pem"},
	}
	e := Default().WithKey(testKey(t))
	for _, tt := range tools {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.args[0]); err != nil {
				t.Skipf("%s is not installed", tt.args[0])
			}
			cmd := exec.Command(tt.args[0], tt.args[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("%s: %v: %s", strings.Join(tt.args, " "), err, out)
			}
			b, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := scanAll(t, e, string(b))
			if len(got) != 1 || got[0].Kind != "private_key" || got[0].Line != 1 || got[0].Start != 0 {
				t.Fatalf("classify of the file %s wrote = %+v, want one private_key on line 1", tt.args[0], got)
			}
			if ds := e.Scan(string(b)); len(ds) != 1 || ds[0].Fingerprint != got[0].Fingerprint {
				t.Errorf("as a value: %+v, want the file's fingerprint %s", ds, got[0].Fingerprint)
			}
		})
	}
}

func TestPEMCanonicalIsIdempotent(t *testing.T) {
	for name, key := range testKeyFiles(t) {
		c, _, ok := pemCanonical(key)
		if !ok {
			t.Errorf("%s: not read as a key", name)
			continue
		}
		if c2, _, _ := pemCanonical(c); c2 != c {
			t.Errorf("%s: canonical form changes when read again", name)
		}
		if !strings.Contains(key, "OPENSSH") && c != key {
			t.Errorf("%s: canonical form differs from encoding/pem's", name)
		}
	}
}

// FuzzPEMBlocks: whatever the file, chunk boundaries change nothing that
// ScanReader reports, key blocks included.
func FuzzPEMBlocks(f *testing.F) {
	// Seeds of the shapes of real keys, without making RSA keys, which
	// is slow under the fuzzer's instrumentation.
	seeds := []string{opensshKey(), pemText("EC PRIVATE KEY", randomBytes(121)), pemText("RSA PRIVATE KEY", randomBytes(1190)),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00FF"}, Bytes: randomBytes(600)}))}
	for _, k := range seeds {
		f.Add("x li.wei88@qq.com\n" + k + "y\n")
		f.Add(strings.ReplaceAll(k, "\n", "\r\n"))
		f.Add(k[:len(k)/2])
	}
	e := Default().WithKey(testKey(f))
	f.Fuzz(func(t *testing.T, text string) {
		defer func(c, m int) { chunkSize, maxLine = c, m }(chunkSize, maxLine)
		chunkSize, maxLine = 1<<20, 1<<20
		want := scanAll(t, e, text)
		chunkSize, maxLine = 64, 1<<20
		got := scanAll(t, e, text)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chunks of 64 bytes: %+v\nwhole: %+v", got, want)
		}
		end := Finding{}
		for _, d := range got {
			if d.Line < end.Line || d.Line == end.Line && d.Start < end.End {
				t.Fatalf("findings out of order: %+v after %+v", d, end)
			}
			end = d
		}
	})
}

// BenchmarkPEMPass measures what the search for key blocks adds to
// ScanReader: one pass over each chunk, on the goroutine that emits.
func BenchmarkPEMPass(b *testing.B) {
	var text bytes.Buffer
	if err := corpus.GenerateSize(&text, io.Discard, 4<<20, 1); err != nil {
		b.Fatal(err)
	}
	e := Default().WithKey(testKey(b))
	c := &chunk{firstLine: 1, data: text.Bytes()}
	b.SetBytes(int64(text.Len()))
	b.ResetTimer()
	for range b.N {
		p := pemBlocks{e: e, path: "corpus"}
		p.chunk(c, nil)
	}
}

// A chunk that may hold a key block is gathered whole, but only up to
// maxPEMHeld findings: past that its findings flow on, every one, in
// order, and the block is given up.
func TestPEMGatherIsBounded(t *testing.T) {
	old := maxPEMHeld
	maxPEMHeld = 100
	defer func() { maxPEMHeld = old }()
	var b strings.Builder
	b.WriteString("-----BEGIN PRIVATE KEY-----\n")
	const emails = 3000
	for i := range emails {
		fmt.Fprintf(&b, "user%d.wang@163.com\n", i)
	}
	e := Default().WithKey(testKey(t))
	var got []Finding
	if err := e.ScanReader(context.Background(), strings.NewReader(b.String()), "dense", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != emails {
		t.Fatalf("%d findings, want %d: every email past the gathering cap must still be reported", len(got), emails)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Line <= got[i-1].Line {
			t.Fatalf("finding %d on line %d after one on line %d: out of order", i, got[i].Line, got[i-1].Line)
		}
	}
}
