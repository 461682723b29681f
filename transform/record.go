package transform

// Record is one bibliographic record, parsed once from Alma's MARCXML. The
// exported fields are derived from the MARC data when parsing and feed the
// JSON and Dublin Core outputs; the MARC itself (leader, control and data
// fields in their order) is kept for AppendMARCXML, so changing an
// exported field does not change the MARCXML.
type Record struct {
	MMSID       string   // 001
	CZMMSID     string   // 035 $a (EXLCZ)<id>; "" when absent
	NZMMSID     string   // 035 $a (EXLNZ-<code>)<id>; "" when absent
	NetworkCode string   // the <code> in (EXLNZ-<code>)
	OCLCNumbers []string // 035 $a (OCoLC): the number alone (ocm/ocn/on prefix and leading zeros dropped); nil when none

	Title string // 245 $a $b $n $p without trailing ISBD punctuation
	// The title as catalogued, for the federated merge's work key (SPEC 9.4).
	TitleProper string   // 245 $a without trailing ISBD punctuation; "" when there is none
	TitleParts  string   // 245 $n and $p (the part's number and name), joined by a space
	Nonfiling   int      // 245 ind2: how many leading characters of TitleProper filing skips (an article), 0-9
	Authors     []string // 100, 110, 111, 700, 710, 711
	ISBNs       []string // 020 $a, normalized
	// SetISBNs are those of ISBNs whose qualifier (020 $q, or one in $a after
	// the number) names the whole set of a multi-volume work, such as "set",
	// "Gesamtwerk" or "v. 1-3": they do not name one volume. nil when none.
	SetISBNs  []string
	ISSNs     []string // 022 $a, normalized to NNNN-NNNN
	Subjects  []string // 600, 610, 611, 630, 648, 650, 651, 653, 655
	Publisher string   // 264 (ind2=1 first) $b, else 260 $b
	Year      string   // 264 $c, else 260 $c, else 008/07-10
	Language  string   // 008/35-37, else 041 $a

	Leader string // as Alma sent it
	Type   string // Dublin Core type from leader/06-07: text, image, sound, collection or ""

	Holdings     []Holding      // member-availability 852s (SPEC 1)
	Availability []Availability // AVA, AVE and AVD fields (SPEC 3.3)

	// text holds every decoded value of the record; the spans below and
	// most of the derived strings above point into it.
	text   string
	leader span
	fields []field
	subs   []subfield
}

// Holding is one member-availability 852 (ind1=0, ind2=1, with $a).
type Holding struct {
	Institution string   // $a
	IZMMSID     string   // $6; "" when missing (JSON null)
	Types       []string // $9 in order: P→print, E→electronic, D→digital, others unchanged
	// Name is the member's display name, which the MARC does not carry:
	// the gateway sets it from its configuration (NameHoldings); "" when
	// unknown (the feed's JSON null).
	Name string
}

// NameHoldings sets each holding's Name from name (a member code's display
// name, "" when unknown).
func (r *Record) NameHoldings(name func(code string) string) {
	for i := range r.Holdings {
		r.Holdings[i].Name = name(r.Holdings[i].Institution)
	}
}

// span is a range of Record.text.
type span struct{ off, end int32 }

type field struct {
	tag        span
	ind1, ind2 span
	control    bool
	value      span  // control fields
	sub0, sub1 int32 // data fields: r.subs[sub0:sub1]
}

type subfield struct {
	code, value span
}

func (r *Record) str(s span) string { return r.text[s.off:s.end] }

// Field is one MARC field as the record holds it.
type Field struct {
	Tag        string
	Ind1, Ind2 string     // data fields only
	Value      string     // control fields only
	Subfields  []Subfield // data fields only
}

// Subfield is one subfield of a data field.
type Subfield struct {
	Code, Value string
}

// Fields returns the record's control and data fields in document order.
// It allocates; the outputs of the package do not use it.
func (r *Record) Fields() []Field {
	out := make([]Field, 0, len(r.fields))
	for _, f := range r.fields {
		F := Field{Tag: r.str(f.tag)}
		if f.control {
			F.Value = r.str(f.value)
		} else {
			F.Ind1, F.Ind2 = r.str(f.ind1), r.str(f.ind2)
			F.Subfields = make([]Subfield, 0, f.sub1-f.sub0)
			for _, s := range r.subs[f.sub0:f.sub1] {
				F.Subfields = append(F.Subfields, Subfield{Code: r.str(s.code), Value: r.str(s.value)})
			}
		}
		out = append(out, F)
	}
	return out
}

// ControlField returns the value of the first control field with the tag.
func (r *Record) ControlField(tag string) (string, bool) {
	for _, f := range r.fields {
		if f.control && r.str(f.tag) == tag {
			return r.str(f.value), true
		}
	}
	return "", false
}
