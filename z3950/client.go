package z3950

import (
	"context"
	"errors"
	"net"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// Client is a minimal Z39.50 origin over the package's own codec: Init,
// Search (a Bib-1 term or CQL), Present, Close. It exists for the
// gateway's tests and benchmarks and as a health check; real clients are
// YAZ's. A *Diagnostic error is the server's diagnostic.
type Client struct {
	w       *wire
	Timeout time.Duration // per exchange; zero means 30s
}

// Dial connects to a Z39.50 server and sends the Init.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{w: newWire(conn, 64<<20)}
	init := pdu(tagInitRequest, nil,
		ctxBits(3, 3, func(int) bool { return true }),
		ctxBits(4, 15, func(i int) bool {
			return i == OptSearch || i == OptPresent || i == OptDelSet || i == OptNamedResultSets
		}),
		ctxInt(5, 16<<20), ctxInt(6, 16<<20),
		ctxString(110, "almanet-gateway-client"), ctxString(111, "z3950.Client"), ctxString(112, "1"))
	p, err := c.exchange(init)
	if err == nil && (p.Tag != tagInitResponse || child1(p, 12) == nil || content(child1(p, 12))[0] == 0) {
		err = errors.New("z3950: init refused")
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func child1(p *ber.Packet, n int) *ber.Packet {
	for _, c := range p.Children {
		if isCtx(c, n) {
			return c
		}
	}
	return nil
}

// exchange sends one PDU and decodes the answer.
func (c *Client) exchange(out []byte) (*ber.Packet, error) {
	raw, err := c.exchangeRaw(out)
	if err != nil {
		return nil, err
	}
	return ber.DecodePacketErr(raw)
}

// exchangeRaw sends one PDU and returns the answer's bytes; a Close is an
// error (*ClosedError).
func (c *Client) exchangeRaw(out []byte) ([]byte, error) {
	t := c.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return c.w.roundTrip(context.Background(), out, t)
}

// SearchTerm searches one Bib-1 use attribute for term into result set
// set and returns the hit count.
func (c *Client) SearchTerm(db, set string, use int, term string) (int, error) {
	attrs := ctxCons(44)
	e := seq()
	e.AppendChild(ctxInt(120, attrUse))
	e.AppendChild(ctxInt(121, use))
	attrs.AppendChild(e)
	q := ctxCons(1)
	q.AppendChild(oid(OIDBib1Attributes))
	q.AppendChild(ctxCons(0, ctxCons(102, attrs, ctxString(45, term))))
	return c.search(db, set, q)
}

// SearchCQL runs a Type-104 CQL search into result set set.
func (c *Client) SearchCQL(db, set, cql string) (int, error) {
	q := ctxCons(104)
	q.AppendChild(oid(OIDCQL))
	q.AppendChild(ctxCons(0, intl(cql)))
	return c.search(db, set, q)
}

func (c *Client) search(db, set string, q *ber.Packet) (int, error) {
	p, err := c.exchange(pdu(tagSearchRequest, nil, ctxInt(13, 0), ctxInt(14, 1), ctxInt(15, 0), ctxBool(16, true),
		ctxString(17, set), ctxCons(18, ctxString(105, db)), ctxCons(21, q)))
	if err != nil {
		return 0, err
	}
	if d := diagIn(p); d != nil {
		return 0, d
	}
	hits := child1(p, 23)
	if hits == nil {
		return 0, errors.New("z3950: searchResponse without resultCount")
	}
	return intOf(hits, "resultCount")
}

// Present asks for count records from start of result set set in a
// syntax (an OID) and returns each record's data: the octets of an
// octet-aligned EXTERNAL, or the encoded single-ASN1-type value. The
// response is walked TLV by TLV (records are most of it; a full packet
// tree would copy each one at every level).
func (c *Client) Present(set string, start, count int, syntax string) ([][]byte, error) {
	recs, _, err := c.PresentPage(set, start, count, syntax)
	return recs, err
}

// PresentInfo is a presentResponse's position and status.
type PresentInfo struct {
	Next   int // nextResultSetPosition; 0 past the last record
	Status int // presentStatus: 0 success, 1-4 partial-1..4, 5 failure
}

// PresentPage is Present that also returns the response's
// nextResultSetPosition and presentStatus.
func (c *Client) PresentPage(set string, start, count int, syntax string) ([][]byte, PresentInfo, error) {
	var info PresentInfo
	recs, err := c.present(set, start, count, syntax, &info)
	return recs, info, err
}

func (c *Client) present(set string, start, count int, syntax string, info *PresentInfo) ([][]byte, error) {
	raw, err := c.exchangeRaw(pdu(tagPresentRequest, nil, ctxString(31, set), ctxInt(30, start), ctxInt(29, count),
		ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, syntax, "")))
	if err != nil {
		return nil, err
	}
	top, err := splitTLV(raw)
	if err != nil || len(top) != 1 || top[0].tag != tagPresentResponse {
		return nil, errors.New("z3950: not a presentResponse")
	}
	fields, err := splitTLV(top[0].content)
	if err != nil {
		return nil, err
	}
	var list *tlv
	for i := range fields {
		if fields[i].class != 0x80 {
			continue
		}
		switch fields[i].tag {
		case 28:
			list = &fields[i]
		case 25:
			info.Next, _ = tlvInt(fields[i].content)
		case 27:
			info.Status, _ = tlvInt(fields[i].content)
		}
	}
	if list == nil {
		p, err := ber.DecodePacketErr(raw)
		if err != nil {
			return nil, err
		}
		if d := diagIn(p); d != nil {
			return nil, d
		}
		return nil, nil
	}
	nprs, err := splitTLV(list.content)
	if err != nil {
		return nil, err
	}
	bad := errors.New("z3950: a record is a surrogate diagnostic or malformed")
	var out [][]byte
	for _, npr := range nprs {
		parts, err := splitTLV(npr.content)
		if err != nil || len(parts) == 0 {
			return out, bad
		}
		rec := parts[len(parts)-1] // record [1]
		inner, err := splitTLV(rec.content)
		if err != nil || len(inner) != 1 || inner[0].tag != 1 {
			return out, bad
		}
		ext, err := splitTLV(inner[0].content)
		if err != nil || len(ext) != 1 {
			return out, bad
		}
		els, err := splitTLV(ext[0].content)
		if err != nil || len(els) < 2 {
			return out, bad
		}
		enc := els[len(els)-1]
		if enc.tag == 0 {
			v, err := splitTLV(enc.content)
			if err != nil || len(v) != 1 {
				return out, bad
			}
			out = append(out, v[0].all)
		} else {
			out = append(out, enc.content)
		}
	}
	return out, nil
}

// tlv is one BER element of an encoding.
type tlv struct {
	class        byte // 0x00 universal, 0x80 context, ...
	tag          int
	all, content []byte
}

// splitTLV splits an encoding into its top-level elements.
func splitTLV(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		id, length, n, err := header(b)
		if err != nil {
			return nil, err
		}
		tag := int(id & 0x1f)
		if tag == 0x1f {
			tag = 0
			for i := 1; i < n; i++ {
				tag = tag<<7 | int(b[i]&0x7f)
				if b[i]&0x80 == 0 {
					break
				}
			}
		}
		end := n + length
		if length < 0 { // indefinite: the framer finds the end-of-contents
			f := framer{max: len(b), maxDepth: 64}
			if end, err = f.next(b); err != nil {
				return nil, err
			}
			end -= 2
		}
		if end > len(b) || end < n {
			return nil, errShort
		}
		content := b[n:end]
		if length < 0 {
			end += 2
		}
		out = append(out, tlv{class: id & 0xc0, tag: tag, all: b[:end], content: content})
		b = b[end:]
	}
	return out, nil
}

// Close sends a Close and ends the connection.
func (c *Client) Close() error {
	c.exchange(closePDU(nil, CloseFinished, ""))
	return c.w.conn.Close()
}

// diagIn returns the first Bib-1 diagnostic in a response.
func diagIn(p *ber.Packet) *Diagnostic {
	if p == nil {
		return nil
	}
	if len(p.Children) == 3 && p.Children[0].ClassType == ber.ClassUniversal && p.Children[0].Tag == ber.TagObjectIdentifier {
		if s, _ := oidOf(p.Children[0], "set"); s == OIDBib1Diagnostic {
			n, _ := intOf(p.Children[1], "condition")
			return &Diagnostic{Condition: n, AddInfo: string(content(p.Children[2]))}
		}
	}
	for _, c := range p.Children {
		if d := diagIn(c); d != nil {
			return d
		}
	}
	return nil
}
