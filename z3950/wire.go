package z3950

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// wire is the origin side of one connection: a PDU out, the next PDU in,
// framed and bounded by the same framer the server reads with. It is what
// Client and the gateway's Origin sessions share.
type wire struct {
	conn net.Conn
	f    framer
	buf  []byte
	have int
}

func newWire(conn net.Conn, maxPDU int) *wire {
	return &wire{conn: conn, f: framer{max: maxPDU, maxDepth: 64}, buf: make([]byte, 16<<10)}
}

// ClosedError is a Close PDU from the target: the session is over.
type ClosedError struct {
	Reason int
	Info   string
}

// closeReasons names the CloseReason values (Z39.50-2003 3.2.11.1).
var closeReasons = map[int]string{
	0: "finished", 1: "shutdown", 2: "system problem", 3: "cost limit", 4: "resources",
	5: "security violation", 6: "protocol error", 7: "lack of activity", 8: "peer not authorized",
	9: "unspecified",
}

func (e *ClosedError) Error() string {
	why := closeReasons[e.Reason]
	if why == "" {
		why = fmt.Sprintf("reason %d", e.Reason)
	}
	s := "z3950: the target closed the session (" + why + ")"
	if e.Info != "" {
		s += ": " + e.Info
	}
	return s
}

// roundTrip sends out (unless nil) and returns the next PDU's bytes, by
// the earlier of ctx's deadline and timeout (zero: none); cancelling ctx
// ends the wait. A Close from the target is a *ClosedError; a PDU the
// framer refuses (too long, nested too deep, malformed lengths) is a
// *ProtocolError.
func (w *wire) roundTrip(ctx context.Context, out []byte, timeout time.Duration) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if timeout > 0 && (!ok || time.Until(deadline) > timeout) {
		deadline, ok = time.Now().Add(timeout), true
	}
	if ok {
		w.conn.SetDeadline(deadline)
	} else {
		w.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { w.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if out != nil {
		if _, err := w.conn.Write(out); err != nil {
			return nil, w.ctxErr(ctx, err)
		}
	}
	for {
		if w.have > 0 && w.buf[0]&0xe0 != 0xa0 {
			// Every APDU is a context-specific constructed [tag]: anything
			// else (an HTTP answer, a banner) is refused at its first byte
			// rather than waited on for the length it seems to announce.
			return nil, protoErr("the answer is not a Z39.50 PDU (it starts %s)", firstBytes(w.buf[:w.have]))
		}
		if w.have > 0 {
			n, err := w.f.next(w.buf[:w.have])
			if err == nil {
				raw := append([]byte(nil), w.buf[:n]...)
				copy(w.buf, w.buf[n:w.have])
				w.have -= n
				w.f.reset()
				if len(raw) > 1 && raw[0] == 0xbf && raw[1] == tagClose {
					ce := &ClosedError{Reason: -1}
					if p, err := ber.DecodePacketErr(raw); err == nil {
						for _, c := range p.Children {
							switch {
							case isCtx(c, 211):
								ce.Reason, _ = intOf(c, "closeReason")
							case isCtx(c, 3):
								ce.Info = string(content(c))
							}
						}
					}
					return nil, ce
				}
				return raw, nil
			}
			if err != errShort {
				return nil, protoErr("%v", err)
			}
		}
		if w.have == len(w.buf) {
			if len(w.buf) >= w.f.max+16 {
				return nil, protoErr("PDU longer than %d bytes", w.f.max)
			}
			w.buf = append(w.buf, make([]byte, min(len(w.buf), w.f.max+16-len(w.buf)))...)
		}
		n, err := w.conn.Read(w.buf[w.have:])
		w.have += n
		if err != nil && n == 0 {
			return nil, w.ctxErr(ctx, err)
		}
	}
}

// ctxErr reports a cancelled or expired context as itself rather than as
// the deadline the cancellation set on the connection.
func (w *wire) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return context.DeadlineExceeded
	}
	return err
}

// firstBytes shows how an answer starts, for a protocol error: printable
// text quoted, else hex.
func firstBytes(b []byte) string {
	b = b[:min(len(b), 16)]
	for _, c := range b {
		if c < ' ' && c != '\r' && c != '\n' || c > '~' {
			return fmt.Sprintf("% x", b)
		}
	}
	return fmt.Sprintf("%q", b)
}
