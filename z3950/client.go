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
	conn    net.Conn
	f       framer
	buf     []byte
	have    int
	Timeout time.Duration // per exchange; zero means 30s
}

// Dial connects to a Z39.50 server and sends the Init.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, f: framer{max: 64 << 20, maxDepth: 64}, buf: make([]byte, 64<<10)}
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

// exchange sends one PDU and reads the answer.
func (c *Client) exchange(out []byte) (*ber.Packet, error) {
	t := c.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	c.conn.SetDeadline(time.Now().Add(t))
	if _, err := c.conn.Write(out); err != nil {
		return nil, err
	}
	for {
		if c.have > 0 {
			n, err := c.f.next(c.buf[:c.have])
			if err == nil {
				p, err := ber.DecodePacketErr(c.buf[:n])
				copy(c.buf, c.buf[n:c.have])
				c.have -= n
				c.f.reset()
				if err != nil {
					return nil, err
				}
				if p.Tag == tagClose {
					return nil, errors.New("z3950: the server closed the session: " + string(content(child1(p, 3))))
				}
				return p, nil
			}
			if err != errShort {
				return nil, err
			}
		}
		if c.have == len(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		n, err := c.conn.Read(c.buf[c.have:])
		c.have += n
		if err != nil && n == 0 {
			return nil, err
		}
	}
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
// octet-aligned EXTERNAL, or the encoded single-ASN1-type value.
func (c *Client) Present(set string, start, count int, syntax string) ([][]byte, error) {
	p, err := c.exchange(pdu(tagPresentRequest, nil, ctxString(31, set), ctxInt(30, start), ctxInt(29, count),
		ber.NewOID(ber.ClassContext, ber.TypePrimitive, 104, syntax, "")))
	if err != nil {
		return nil, err
	}
	if child1(p, 28) == nil {
		if d := diagIn(p); d != nil {
			return nil, d
		}
		return nil, nil
	}
	var out [][]byte
	for _, npr := range child1(p, 28).Children {
		r := child1(npr, 1)
		if r == nil || len(r.Children) != 1 || !isCtx(r.Children[0], 1) || len(r.Children[0].Children) != 1 {
			return out, errors.New("z3950: a record is a surrogate diagnostic or malformed")
		}
		ext := r.Children[0].Children[0]
		if len(ext.Children) < 2 {
			return out, errors.New("z3950: malformed EXTERNAL")
		}
		enc := ext.Children[len(ext.Children)-1]
		if isCtx(enc, 0) && len(enc.Children) == 1 {
			out = append(out, enc.Children[0].Bytes())
		} else {
			out = append(out, append([]byte(nil), content(enc)...))
		}
	}
	return out, nil
}

// Close sends a Close and ends the connection.
func (c *Client) Close() error {
	c.exchange(closePDU(nil, CloseFinished, ""))
	return c.conn.Close()
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
