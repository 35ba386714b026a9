package mongodb

import (
	"bytes"
	"testing"
)

// FuzzDecodeDocument: any bytes decode to a document or an error, never
// a panic, a hang or more memory than a small multiple of their size.
func FuzzDecodeDocument(f *testing.F) {
	f.Add(mustEncode(doc{{"a", "b"}, {"n", int32(3)}, {"d", doc{{"x", arr{1.5, true, nil}}}}}))
	f.Add(deep(10))
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDocument(b)
		if err == nil {
			flatten(d, "", func(string, string) {}, 0)
			textFields([]Document{d})
		}
	})
}

// FuzzParseMsg: an OP_MSG body from a peer.
func FuzzParseMsg(f *testing.F) {
	f.Add(msgBody(mustEncode(doc{{"ok", 1.0}})))
	f.Add(append([]byte{1, 0, 0, 0}, msgBody(mustEncode(doc{{"ok", 1.0}}))[4:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseMsg(b)
	})
}

// FuzzParseReply: an OP_REPLY body from a peer.
func FuzzParseReply(f *testing.F) {
	b := make([]byte, 20)
	b[16] = 1
	f.Add(append(b, mustEncode(doc{{"ismaster", true}, {"ok", 1.0}})...))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseReply(b)
	})
}

// FuzzReadMessage: a whole answer, header first, from a peer.
func FuzzReadMessage(f *testing.F) {
	f.Add(opMsgReply(1, doc{{"ok", 1.0}}))
	f.Add(header(0x7fffffff, 1, opMsg))
	f.Fuzz(func(t *testing.T, b []byte) {
		readMessage(bytes.NewReader(b), 1, 1<<20, nil)
	})
}
