package transform_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/almanet/gateway/transform"
)

const exampleRecord = `<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim">
  <marc:leader>01226cam a2200313 a 4500</marc:leader>
  <marc:controlfield tag="001">9978811100191</marc:controlfield>
  <marc:datafield tag="035" ind1=" " ind2=" "><marc:subfield code="a">(EXLCZ)992550000001150386</marc:subfield></marc:datafield>
  <marc:datafield tag="020" ind1=" " ind2=" "><marc:subfield code="a">978-0-00-000000-2 (pbk.)</marc:subfield></marc:datafield>
  <marc:datafield tag="100" ind1="1" ind2=" "><marc:subfield code="a">Muster, Anna,</marc:subfield></marc:datafield>
  <marc:datafield tag="245" ind1="1" ind2="0"><marc:subfield code="a">Data &amp; society :</marc:subfield><marc:subfield code="b">an introduction /</marc:subfield></marc:datafield>
  <marc:datafield tag="264" ind1=" " ind2="1"><marc:subfield code="b">Beck,</marc:subfield><marc:subfield code="c">[2021]</marc:subfield></marc:datafield>
  <marc:datafield tag="852" ind1="0" ind2="1"><marc:subfield code="a">01NET_INST</marc:subfield><marc:subfield code="6">9990111100121</marc:subfield><marc:subfield code="9">P</marc:subfield><marc:subfield code="9">E</marc:subfield></marc:datafield>
  <marc:datafield tag="852" ind1="0" ind2="1"><marc:subfield code="a">02NET_INST</marc:subfield><marc:subfield code="9">D</marc:subfield></marc:datafield>
</marc:record>`

func ExampleParse() {
	r, err := transform.Parse([]byte(exampleRecord))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.MMSID, r.CZMMSID, r.Title, r.Authors, r.ISBNs, r.Publisher, r.Year)
	for _, h := range r.Holdings {
		fmt.Printf("%s %q %v\n", h.Institution, h.IZMMSID, h.Types)
	}
	// Output:
	// 9978811100191 992550000001150386 Data & society : an introduction [Muster, Anna] [9780000000002] Beck 2021
	// 01NET_INST "9990111100121" [print electronic]
	// 02NET_INST "" [digital]
}

func ExampleRecord_AppendFeedJSON() {
	r, err := transform.Parse([]byte(exampleRecord))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(r.AppendFeedJSON(nil, 1)))
	// Output:
	// {"position":1,"mms_id":"9978811100191","cz_mms_id":"992550000001150386","title":"Data \u0026 society : an introduction","authors":["Muster, Anna"],"isbns":["9780000000002"],"issns":[],"publisher":"Beck","year":"2021","language":"","holdings":[{"institution":"01NET_INST","name":null,"iz_mms_id":"9990111100121","types":["print","electronic"]},{"institution":"02NET_INST","name":null,"iz_mms_id":null,"types":["digital"]}]}
}

func ExampleRecord_AppendDC() {
	r, err := transform.Parse([]byte(exampleRecord))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(r.AppendDC(nil)))
	// Output:
	// <srw_dc:dc xmlns:srw_dc="info:srw/schema/1/dc-schema" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Data &amp; society : an introduction</dc:title><dc:creator>Muster, Anna</dc:creator><dc:publisher>Beck</dc:publisher><dc:date>2021</dc:date><dc:type>text</dc:type><dc:identifier>URN:ISBN:9780000000002</dc:identifier><dc:identifier>9978811100191</dc:identifier></srw_dc:dc>
}

func ExampleConvert() {
	in := `<collection xmlns="http://www.loc.gov/MARC21/slim">` + exampleRecord + `</collection>`
	n, err := transform.Convert(context.Background(), os.Stdout, strings.NewReader(in), "marcxml", nil)
	fmt.Println(n, err)
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <collection xmlns="http://www.loc.gov/MARC21/slim">
	// <record xmlns="http://www.loc.gov/MARC21/slim"><leader>01226cam a2200313 a 4500</leader><controlfield tag="001">9978811100191</controlfield><datafield tag="035" ind1=" " ind2=" "><subfield code="a">(EXLCZ)992550000001150386</subfield></datafield><datafield tag="020" ind1=" " ind2=" "><subfield code="a">978-0-00-000000-2 (pbk.)</subfield></datafield><datafield tag="100" ind1="1" ind2=" "><subfield code="a">Muster, Anna,</subfield></datafield><datafield tag="245" ind1="1" ind2="0"><subfield code="a">Data &amp; society :</subfield><subfield code="b">an introduction /</subfield></datafield><datafield tag="264" ind1=" " ind2="1"><subfield code="b">Beck,</subfield><subfield code="c">[2021]</subfield></datafield><datafield tag="852" ind1="0" ind2="1"><subfield code="a">01NET_INST</subfield><subfield code="6">9990111100121</subfield><subfield code="9">P</subfield><subfield code="9">E</subfield></datafield><datafield tag="852" ind1="0" ind2="1"><subfield code="a">02NET_INST</subfield><subfield code="9">D</subfield></datafield></record>
	// </collection>
	// 1 <nil>
}

func ExampleScanner() {
	page := `<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><numberOfRecords>2</numberOfRecords><records>
<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking><recordData>
<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">991</controlfield></record>
</recordData><recordIdentifier>991</recordIdentifier><recordPosition>11</recordPosition></record>
<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking><recordData>
<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">992</controlfield></record>
</recordData><recordIdentifier>992</recordIdentifier><recordPosition>12</recordPosition></record>
</records></searchRetrieveResponse>`
	sc := transform.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		r, err := transform.Parse(sc.Bytes())
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(sc.Position(), r.MMSID)
	}
	fmt.Println(sc.Err())
	// Output:
	// 11 991
	// 12 992
	// <nil>
}
