# Generates federate/testdata/heldout: MARCXML collections of five targets and truth.tsv.
import unicodedata, os, sys
from xml.sax.saxutils import escape

def isbn13(core12):
    s = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(core12))
    return core12 + str((10 - s % 10) % 10)

def isbn10(core9):
    s = sum(int(c) * (10 - i) for i, c in enumerate(core9))
    d = (11 - s % 11) % 11
    return core9 + ('X' if d == 10 else str(d))

SET = isbn13("978345120450")
V1 = isbn13("978345120451")
V2 = isbn13("978345120452")
VWL = isbn13("978380063163")
VWL10 = isbn10(VWL[3:12])
GUNS10 = isbn10("039303891")
KOCH = isbn13("978389010777")
def hy13(s): return f"{s[:3]}-{s[3]}-{s[4:7]}-{s[7:12]}-{s[12]}"
def hy10(s): return f"{s[0]}-{s[1:4]}-{s[4:9]}-{s[9]}"

def f008(year, lang):
    s = "850101s" + year + "    xx            000 0 " + lang + " d"
    assert len(s) == 40, (len(s), s)
    return s

R = []  # (target, id, work, lang, year-for-008 or None, fields)
def rec(target, id, work, lang, fields, y008=None, leader="00000nam a2200000 i 4500"):
    R.append((target, id, work, lang, y008, leader, fields))

def df(tag, ind, *subs):
    return (tag, ind, list(zip(subs[0::2], subs[1::2])))

# 1. Müller: ü/ue, initials, subtitle in $a without space before the colon, c-date; traps: other forename, other year.
rec("nz", "n1", "vwl", "ger", [df("020", "  ", "a", VWL, "q", "kartoniert"), df("100", "1 ", "a", "Müller, Jürgen,", "e", "author."),
    df("245", "10", "a", "Grundzüge der Volkswirtschaftslehre :", "b", "eine Einführung /", "c", "Jürgen Müller."),
    df("264", " 1", "a", "München :", "b", "Vahlen,", "c", "2005.")], "2005")
rec("dnb", "d1", "vwl", "ger", [df("020", "  ", "a", VWL10, "c", "kart. : EUR 24.90"), df("100", "1 ", "a", "Mueller, Juergen"),
    df("245", "10", "a", "Grundzuege der Volkswirtschaftslehre", "b", "eine Einfuehrung", "c", "Juergen Mueller"),
    df("264", " 1", "b", "Vahlen", "c", "2005")], "2005")
rec("koha", "k1", "vwl", "ger", [df("100", "1 ", "a", "Müller, J."),
    df("245", "10", "a", "GRUNDZÜGE DER VOLKSWIRTSCHAFTSLEHRE: EINE EINFÜHRUNG"), df("260", "  ", "c", "c2005.")], "2005")
rec("loc", "l1", "vwl-klaus", "ger", [df("100", "1 ", "a", "Müller, Klaus,", "d", "1950-"),
    df("245", "10", "a", "Grundzüge der Volkswirtschaftslehre /", "c", "Klaus Müller."), df("260", "  ", "a", "Stuttgart :", "b", "Kohlhammer,", "c", "2005.")], "2005")
rec("ext", "e1", "vwl-2009", "ger", [df("100", "1 ", "a", "Mueller, Juergen"),
    df("245", "10", "a", "Grundzüge der Volkswirtschaftslehre : eine Einführung"), df("250", "  ", "a", "2. Aufl."), df("264", " 1", "c", "2009")], "2009")

# 2. Pride and prejudice: & for and, trailing period, initials; traps: other edition's year, same title by another author.
rec("nz", "n2", "pride", "eng", [df("100", "1 ", "a", "Austen, Jane,", "d", "1775-1817."),
    df("245", "10", "a", "Pride and prejudice /", "c", "Jane Austen ; edited by Vivien Jones."), df("264", " 1", "a", "London :", "b", "Penguin,", "c", "2003.")], "2003")
rec("loc", "l2", "pride", "eng", [df("100", "1 ", "a", "Austen, Jane,", "d", "1775-1817."),
    df("245", "10", "a", "Pride & prejudice /", "c", "Jane Austen."), df("260", "  ", "a", "London :", "b", "Penguin,", "c", "2003.")], "2003")
rec("koha", "k2", "pride", "eng", [df("100", "1 ", "a", "Austen, J."), df("245", "10", "a", "Pride and Prejudice."), df("260", "  ", "c", "2003")], "2003")
rec("ext", "e2", "pride-1996", "eng", [df("100", "1 ", "a", "Austen, Jane"), df("245", "10", "a", "Pride and prejudice"), df("264", " 1", "c", "1996")], "1996")
rec("dnb", "d2", "pride-wilson", "eng", [df("100", "1 ", "a", "Wilson, Kate"), df("245", "10", "a", "Pride and prejudice"), df("264", " 1", "c", "2003")], "2003")

# 3. Het achterhuis: a Dutch article, by 245 ind2 or by the record's language.
rec("nz", "n3", "achterhuis", "dut", [df("100", "1 ", "a", "Frank, Anne,", "d", "1929-1945."),
    df("245", "14", "a", "Het achterhuis :", "b", "dagboekbrieven 14 juni 1942 - 1 augustus 1944 /", "c", "Anne Frank."), df("264", " 1", "c", "1991.")], "1991")
rec("koha", "k3", "achterhuis", "dut", [df("100", "1 ", "a", "Frank, Anne"), df("245", "10", "a", "Het Achterhuis"), df("260", "  ", "c", "1991")], "1991")
rec("loc", "l3", "achterhuis", "dut", [df("100", "1 ", "a", "Frank, Anne,", "d", "1929-1945."),
    df("245", "10", "a", "Achterhuis :", "b", "dagboekbrieven 14 juni 1942 - 1 augustus 1944."), df("260", "  ", "c", "1991.")], "1991")

# 4. L'étranger: an elided French article (ind2 2, or the language), typographic apostrophe, initials; trap: another author.
rec("nz", "n4", "etranger", "fre", [df("100", "1 ", "a", "Camus, Albert,", "d", "1913-1960."), df("245", "12", "a", "L'étranger /", "c", "Albert Camus."), df("264", " 1", "c", "1972.")], "1972")
rec("dnb", "d4", "etranger", "fre", [df("100", "1 ", "a", "Camus, Albert"), df("245", "10", "a", "L'Étranger", "c", "Albert Camus"), df("264", " 1", "c", "1972")], "1972")
rec("koha", "k4", "etranger", "fre", [df("100", "1 ", "a", "Camus, A."), df("245", "10", "a", "L’étranger"), df("260", "  ", "c", "1972")], "1972")
rec("ext", "e4", "etranger-dubois", "fre", [df("100", "1 ", "a", "Dubois, Marc"), df("245", "12", "a", "L'étranger"), df("264", " 1", "c", "1972")], "1972")

# 5. García Márquez: diacritics, a Spanish article, a compound surname, a name in direct order.
rec("nz", "n5", "amor", "spa", [df("100", "1 ", "a", "García Márquez, Gabriel,", "d", "1927-2014."),
    df("245", "13", "a", "El amor en los tiempos del cólera /", "c", "Gabriel García Márquez."), df("264", " 1", "a", "Barcelona :", "b", "Bruguera,", "c", "1985.")], "1985")
rec("loc", "l5", "amor", "spa", [df("100", "1 ", "a", "Garcia Marquez, Gabriel,", "d", "1928-"), df("245", "13", "a", "El amor en los tiempos del colera /"), df("260", "  ", "c", "1985.")], "1985")
rec("koha", "k5", "amor", "spa", [df("100", "0 ", "a", "Gabriel García Márquez"), df("245", "10", "a", "El amor en los tiempos del cólera"), df("260", "  ", "c", "1985")], "1985")

# 6. Handbuch der Kirchengeschichte, two volumes: set ISBNs ($q set, "(Gesamtwerk)", unqualified on both volumes of one
#    target, unqualified on one volume in each of two targets), volume ISBNs with qualifiers, the volume in $n or in $a,
#    arabic or roman.
rec("nz", "n6", "kg1", "ger", [df("020", "  ", "a", V1, "q", "Band 1"), df("020", "  ", "a", SET, "q", "set"),
    df("245", "00", "a", "Handbuch der Kirchengeschichte.", "n", "Band 1,", "p", "Von der Urgemeinde zur frühchristlichen Großkirche /", "c", "hrsg. von Hubert Jedin."),
    df("264", " 1", "c", "1985."), df("700", "1 ", "a", "Jedin, Hubert,", "e", "Herausgeber.")], "1985")
rec("nz", "n7", "kg2", "ger", [df("020", "  ", "a", V2, "q", "Band 2"), df("020", "  ", "a", SET, "q", "set"),
    df("245", "00", "a", "Handbuch der Kirchengeschichte.", "n", "Band 2,", "p", "Die Reichskirche nach Konstantin dem Großen /", "c", "hrsg. von Hubert Jedin."),
    df("264", " 1", "c", "1985."), df("700", "1 ", "a", "Jedin, Hubert,", "e", "Herausgeber.")], "1985")
rec("dnb", "d6", "kg1", "ger", [df("020", "  ", "a", hy13(SET) + " (Gesamtwerk)"), df("020", "  ", "a", hy13(V1) + " (Bd. 1)"),
    df("245", "00", "a", "Handbuch der Kirchengeschichte", "n", "1", "p", "Von der Urgemeinde zur frühchristlichen Grosskirche"),
    df("264", " 1", "c", "1985"), df("700", "1 ", "a", "Jedin, Hubert")], "1985")
rec("dnb", "d7", "kg2", "ger", [df("020", "  ", "a", hy13(SET) + " (Gesamtwerk)"), df("020", "  ", "a", hy13(V2) + " (Bd. 2)"),
    df("245", "00", "a", "Handbuch der Kirchengeschichte", "n", "2", "p", "Die Reichskirche nach Konstantin dem Grossen"),
    df("264", " 1", "c", "1985"), df("700", "1 ", "a", "Jedin, Hubert")], "1985")
rec("koha", "k6", "kg1", "ger", [df("020", "  ", "a", SET), df("245", "10", "a", "Handbuch der Kirchengeschichte. Band 1"), df("260", "  ", "c", "1985"), df("700", "1 ", "a", "Jedin, H.")], "1985")
rec("koha", "k7", "kg2", "ger", [df("020", "  ", "a", SET), df("245", "10", "a", "Handbuch der Kirchengeschichte. Band 2"), df("260", "  ", "c", "1985"), df("700", "1 ", "a", "Jedin, H.")], "1985")
rec("loc", "l7", "kg2", "ger", [df("020", "  ", "a", SET),
    df("245", "00", "a", "Handbuch der Kirchengeschichte.", "n", "v. 2,", "p", "Die Reichskirche nach Konstantin dem Grossen /", "c", "edited by Hubert Jedin."),
    df("260", "  ", "c", "1985."), df("700", "1 ", "a", "Jedin, Hubert,", "e", "editor.")], "1985")
rec("ext", "e6", "kg1", "ger", [df("020", "  ", "a", hy13(SET)), df("245", "00", "a", "Handbuch der Kirchengeschichte", "n", "Bd. I"),
    df("264", " 1", "c", "1985"), df("700", "1 ", "a", "Jedin, Hubert")], "1985")

# 7. Guns, germs, and steel: a subtitle in $a, & for and, an ISBN-10 with a qualifier; trap: another edition's year.
rec("nz", "n8", "guns", "eng", [df("020", "  ", "a", GUNS10), df("100", "1 ", "a", "Diamond, Jared M."),
    df("245", "10", "a", "Guns, germs, and steel :", "b", "the fates of human societies /", "c", "Jared Diamond."), df("264", " 1", "c", "1997.")], "1997")
rec("loc", "l8", "guns", "eng", [df("020", "  ", "a", hy10(GUNS10) + " (hc.)"), df("100", "1 ", "a", "Diamond, Jared M."),
    df("245", "10", "a", "Guns, germs & steel : the fates of human societies /", "c", "Jared Diamond."), df("260", "  ", "c", "c1997.")], "1997")
rec("koha", "k8", "guns", "eng", [df("100", "1 ", "a", "Diamond, J."), df("245", "10", "a", "Guns, germs and steel"), df("260", "  ", "c", "1997")], "1997")
rec("ext", "e8", "guns-2005", "eng", [df("100", "1 ", "a", "Diamond, Jared"), df("245", "10", "a", "Guns, germs, and steel :", "b", "the fates of human societies"), df("264", " 1", "c", "2005")], "2005")

# 8. Große Denker: ß/ss, initials, a name in direct order, a trailing period.
rec("nz", "n9", "denker", "ger", [df("100", "1 ", "a", "Weiß, Peter"), df("245", "10", "a", "Große Denker der Philosophie /", "c", "Peter Weiß."), df("264", " 1", "c", "2010")], "2010")
rec("dnb", "d9", "denker", "ger", [df("100", "1 ", "a", "Weiss, P."), df("245", "10", "a", "Grosse Denker der Philosophie"), df("264", " 1", "c", "2010")], "2010")
rec("koha", "k9", "denker", "ger", [df("100", "0 ", "a", "Peter Weiss"), df("245", "10", "a", "Große Denker der Philosophie."), df("260", "  ", "c", "2010")], "2010")

# 9. The lion, the witch and the wardrobe: initials against full forenames, & for and, articles; traps: another
#    author, the same surname with another forename.
rec("nz", "n10", "lion", "eng", [df("100", "1 ", "a", "Lewis, C. S.", "q", "(Clive Staples),", "d", "1898-1963."),
    df("245", "14", "a", "The lion, the witch and the wardrobe /", "c", "C.S. Lewis."), df("264", " 1", "c", "1950.")], "1950")
rec("koha", "k10", "lion", "eng", [df("100", "1 ", "a", "Lewis, Clive Staples"), df("245", "10", "a", "The Lion, the Witch & the Wardrobe"), df("260", "  ", "c", "1950")], "1950")
rec("loc", "l10", "lion", "eng", [df("100", "1 ", "a", "Lewis, C. S.", "q", "(Clive Staples),", "d", "1898-1963."),
    df("245", "14", "a", "The lion, the witch, and the wardrobe :", "b", "a story for children /", "c", "by C.S. Lewis."), df("260", "  ", "c", "1950.")], "1950")
rec("ext", "e10", "lion-hastings", "eng", [df("100", "1 ", "a", "Hastings, Selina"), df("245", "14", "a", "The lion, the witch and the wardrobe"), df("264", " 1", "c", "1950")], "1950")
rec("dnb", "d10", "lion-margaret", "eng", [df("100", "1 ", "a", "Lewis, Margaret"), df("245", "14", "a", "The lion, the witch and the wardrobe"), df("264", " 1", "c", "1950")], "1950")

# 10. Válka s mloky and Truyện Kiều: other diacritics (Czech, Vietnamese), precomposed and decomposed.
rec("nz", "n11", "mloky", "cze", [df("100", "1 ", "a", "Čapek, Karel,", "d", "1890-1938."), df("245", "10", "a", "Válka s mloky /", "c", "Karel Čapek."), df("264", " 1", "c", "1936.")], "1936")
rec("loc", "l11", "mloky", "cze", [df("100", "1 ", "a", "Capek, Karel,", "d", "1890-1938."), df("245", "10", "a", "Valka s mloky."), df("260", "  ", "c", "1936.")], "1936")
rec("nz", "n12", "kieu", "vie", [df("100", "0 ", "a", "Nguyễn, Du,", "d", "1765-1820."), df("245", "10", "a", "Truyện Kiều /", "c", "Nguyễn Du."), df("264", " 1", "c", "2002.")], "2002")
rec("ext", "e12", "kieu", "vie", [df("100", "0 ", "a", "Nguyen, Du"), df("245", "10", "a", "Truyen Kieu"), df("264", " 1", "c", "2002")], "2002")
rec("koha", "k12", "kieu", "vie", [df("100", "0 ", "a", unicodedata.normalize("NFD", "Nguyễn, Du")), df("245", "10", "a", unicodedata.normalize("NFD", "Truyện Kiều.")), df("260", "  ", "c", "2002")], "2002")

# 11. Ansichten eines Clowns: ö/oe, a subtitle after a full stop in $a, initials.
rec("nz", "n13", "clowns", "ger", [df("100", "1 ", "a", "Böll, Heinrich,", "d", "1917-1985."), df("245", "10", "a", "Ansichten eines Clowns :", "b", "Roman /", "c", "Heinrich Böll."), df("264", " 1", "c", "1963.")], "1963")
rec("dnb", "d13", "clowns", "ger", [df("100", "1 ", "a", "Boell, Heinrich"), df("245", "10", "a", "Ansichten eines Clowns", "b", "Roman"), df("264", " 1", "c", "1963")], "1963")
rec("koha", "k13", "clowns", "ger", [df("100", "1 ", "a", "Böll, H."), df("245", "10", "a", "Ansichten eines Clowns. Roman"), df("260", "  ", "c", "1963")], "1963")

# 12. Emil und die Detektive: ä/ae, & for und; trap: another edition's year.
rec("nz", "n14", "emil", "ger", [df("100", "1 ", "a", "Kästner, Erich,", "d", "1899-1974."),
    df("245", "10", "a", "Emil und die Detektive :", "b", "ein Roman für Kinder /", "c", "Erich Kästner."), df("264", " 1", "c", "1929.")], "1929")
rec("loc", "l14", "emil", "ger", [df("100", "1 ", "a", "Kaestner, Erich,", "d", "1899-1974."), df("245", "10", "a", "Emil & die Detektive."), df("260", "  ", "c", "1929.")], "1929")
rec("koha", "k14", "emil-1935", "ger", [df("100", "1 ", "a", "Kästner, Erich"), df("245", "10", "a", "Emil und die Detektive"), df("260", "  ", "c", "1935")], "1935")

# 13. One ISBN on two records of one target (a publisher reused it): it names neither.
rec("nz", "n15", "kochen", "ger", [df("020", "  ", "a", KOCH), df("100", "1 ", "a", "Schmidt, Anna"), df("245", "10", "a", "Kochen für Anfänger /", "c", "Anna Schmidt."), df("264", " 1", "c", "2001.")], "2001")
rec("ext", "e15", "kochen", "ger", [df("020", "  ", "a", KOCH + " (kart.)"), df("100", "1 ", "a", "Schmidt, Anna"), df("245", "10", "a", "Kochen für Anfänger"), df("264", " 1", "c", "2001")], "2001")
rec("ext", "e16", "backen", "ger", [df("020", "  ", "a", KOCH), df("100", "1 ", "a", "Schmidt, Anna"), df("245", "10", "a", "Backen für Anfänger"), df("264", " 1", "c", "2001")], "2001")

out = sys.argv[1]
targets = ["nz", "dnb", "loc", "koha", "ext"]
truth = []
for t in targets:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<collection xmlns="http://www.loc.gov/MARC21/slim">']
    for (tt, id, work, lang, y, leader, fields) in R:
        if tt != t:
            continue
        truth.append(f"{t}\t{id}\t{work}")
        lines.append("  <record>")
        lines.append(f"    <leader>{leader}</leader>")
        lines.append(f'    <controlfield tag="001">{id}</controlfield>')
        if y:
            lines.append(f'    <controlfield tag="008">{f008(y, lang)}</controlfield>')
        for tag, ind, subs in fields:
            lines.append(f'    <datafield tag="{tag}" ind1="{ind[0]}" ind2="{ind[1]}">')
            for c, v in subs:
                lines.append(f'      <subfield code="{c}">{escape(v)}</subfield>')
            lines.append("    </datafield>")
        lines.append("  </record>")
    lines.append("</collection>")
    with open(os.path.join(out, t + ".xml"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "truth.tsv"), "w") as f:
    f.write("# target\tid\twork: which records of the held-out corpus are one work\n")
    f.write("\n".join(truth) + "\n")
