#!/usr/bin/python3
"""make_hard - hard cases for fetch's HTML tokenizer, written as files.

    make_hard.py DIR                write the cases into DIR
    make_hard.py --check            compare html5lib (../tokdiff.py) with them
    make_hard.py --verify LINKDUMP  compare LINKDUMP with them, fed split too

The cases are the corners of the WHATWG tokenizer that decide which links
a page holds. They are generated, not committed, because many need NUL,
CR or bytes that are not UTF-8. DIR gets:

  hard.html      the cases that end in the data state, one after another;
                 each starts with a marker link "#NN-name", so a case that
                 swallowed the next one shows in the listing
  eof-*.html     the cases that end at the end of the file, one a file
  limits.html    values at and beyond the 64 KiB a value may hold (large:
                 too slow for linkdump -s every, use -s random)
  deviations.whatwg
                 the cases where html5lib 1.1 deviates from the standard
                 (see DEVIATIONS); not *.html, so tokdiff.py skips it
  NAME.expect    each file's links by the standard, as our reading of
                 https://html.spec.whatwg.org/multipage/parsing.html#tokenization
                 gives them, in linkdump's format without the "== FILE" line

The expectations are written here by hand from the standard, not taken
from html5lib: --check runs tokdiff.py's html5lib side on every case and
lists where the two disagree, which is where html5lib 1.1 deviates from
the standard (or this file is wrong). --verify checks fetch's tokenizer
against the expectations, each file fed whole and split (-s every, or
-s random for limits.html); tokdiff.py LINKDUMP DIR checks it against
html5lib on the *.html files.

Only the tokenizer counts (see tokdiff.py): no tree builder, so nothing
depends on where an element stands, and no foreign content.
"""
import os
import sys

VALUE_MAX = 64 * 1024


def A(v):
    return ("a", "href", v)


def S(el, v):
    return (el, "src", v)


def H(el, v):
    return (el, "href", v)


# (name, HTML, the links the standard finds in it). Strings are encoded as
# UTF-8 with surrogateescape: "\udcff" stands for the byte 0xFF.
CASES = [
    # Data state and tag open state.
    ("data-lt", "a < b <3 <<a href=d1> x<>y <a href=d2>", [A("d1"), A("d2")]),
    ("data-amp", "&lt;a href=no&gt; &amp <a href=d3>", [A("d3")]),
    ("data-nul", "\0<a href=d4>\0", [A("d4")]),
    ("lt-nul", "<\0a href=no>", []),
    ("lt-nonascii", "<\u00e9 href=no><\uff41 href=no>", []),
    # Tag name.
    ("tagname-case", "<A HREF=T1><LiNk hReF=T2><AREA Href=T3>",
     [A("T1"), H("link", "T2"), H("area", "T3")]),
    ("tagname-longer", "<ab href=no><abbr href=no><aa href=no><a- href=no><a: href=no>", []),
    ("tagname-lt", "<a<b href=no><a\u00e9 href=no><a\udcff href=no>", []),
    ("tagname-nul", "<a\0 href=no><a\0>", []),
    ("tagname-space", "<a\thref=w1><a\nhref=w2><a\x0chref=w3><a\rhref=w4><a\r\nhref=w5>",
     [A("w1"), A("w2"), A("w3"), A("w4"), A("w5")]),
    ("tagname-slash", "<a/href=w6><a/ href=w7><a / href=w8>", [A("w6"), A("w7"), A("w8")]),
    # End tags: never links, but their attributes can hide text.
    ("endtag-attrs", "</a href=no></p title=\"><a href=no>\"><a href=e1>", [A("e1")]),
    ("endtag-empty", "</><a href=e2>", [A("e2")]),
    ("endtag-bogus", "</ <a href=no>x</3 <a href=no><a href=e3>", [A("e3")]),
    ("endtag-lt", "</a<a href=no><a href=e4>", [A("e4")]),
    ("endtag-nul", "</\0<a href=no><a href=e5>", [A("e5")]),
    # Before and after attribute name.
    ("attr-spaces", "<a  href  =  \"s1\"  ><a href\n=\n's2'><a href =s3>",
     [A("s1"), A("s2"), A("s3")]),
    ("attr-novalue", "<a foo href=s4><a href foo=no><a href><a href/><a href >",
     [A("s4"), A(""), A(""), A(""), A("")]),
    ("attr-order", "<frame src=f1 href=f0><iframe src=i1 href=i0></iframe>"
     "<link src=l1 href=l0><area src=r1 href=r0><a src=a1 href=a0><base src=no href=b0>",
     [H("frame", "f0"), S("frame", "f1"), H("iframe", "i0"), S("iframe", "i1"),
      H("link", "l0"), S("link", "l1"), H("area", "r0"), S("area", "r1"),
      A("a0"), S("a", "a1"), H("base", "b0")]),
    ("attr-other-elems", "<img src=no href=no><script src=no href=no></script>"
     "<embed src=no><object data=no><form action=no><video src=no><source src=no>", []),
    # Attribute names: '=', quotes and '<' are name characters there.
    ("attrname-eq", "<a =href=no><a =href=no href=n1><a h=ref=no>", [A("n1")]),
    ("attrname-quotes", "<a \"href\"=no 'href'=no href\"=no hr'ef=no href=n2>", [A("n2")]),
    ("attrname-lt", "<a href<=no <href=no href=n3>", [A("n3")]),
    ("attrname-case", "<a HrEf=n4><a HREF=n5 href=no>", [A("n4"), A("n5")]),
    ("attrname-nul", "<a hr\0ef=no><a \0href=no><a href\0=no><a href=n6>", [A("n6")]),
    ("attrname-nonascii", "<a hr\u00e9f=no><a \u0127ref=no><a href\udcff=no><a href=n7>",
     [A("n7")]),
    ("attrname-tail", "<a href=n8 =x><a href=n9 \"><a href=n10 '=''>",
     [A("n8"), A("n9"), A("n10")]),
    # Duplicates: the first wins, with its name lower-cased first.
    ("dup", "<a href=first href=second><a HREF=first2 href=second><a href href=second>"
     "<a src=s href=h src=s2 href=h2>",
     [A("first"), A("first2"), A(""), A("h"), S("a", "s")]),
    # Attribute values.
    ("value-dq", "<a href=\"q1 'x' > y\"><a href=\"\">", [A("q1 'x' > y"), A("")]),
    ("value-sq", "<a href='q2 \"x\" > y'><a href=''>", [A("q2 \"x\" > y"), A("")]),
    ("value-adjacent", "<a href=\"q3\"src='q4'><a href=''src=\"q5\"><a href=\"q6\"/src=q7>",
     [A("q3"), S("a", "q4"), A(""), S("a", "q5"), A("q6"), S("a", "q7")]),
    ("value-unquoted", "<a href=u1'\"=<`x><a href=u2/><a href=u3 /><a href=u4//>",
     [A("u1'\"=<`x"), A("u2/"), A("u3"), A("u4//")]),
    ("value-missing", "<a href=><a href= ><a href=\n>", [A(""), A(""), A("")]),
    ("value-lt-eq", "<a href=<x><a href==x><a href=`x>", [A("<x"), A("=x"), A("`x")]),
    ("value-hides-tags", "<img alt=\"<a href=no>\"><div title='<a href=no>'><a href=v1>",
     [A("v1")]),
    ("value-nul", "<a href=\"x\0y\"><a href='\0'><a href=x\0y><a href=\0z>",
     [A("x\ufffdy"), A("\ufffd"), A("x\ufffdy"), A("\ufffdz")]),
    ("value-newlines", "<a href=\"c\r\nd\"><a href=\"c\rd\"><a href=\"c\r\rd\">"
     "<a href='c\n\rd'><a href='c\r\n\r\nd'><a href=\"\r\"><a href=g\rh><a href=\"\r\n\">",
     [A("c\nd"), A("c\nd"), A("c\n\nd"), A("c\n\nd"), A("c\n\nd"), A("\n"), A("g"), A("\n")]),
    ("value-spaces", "<a href=\" sp\tx\x0c \"><a href=\"\u00a0\u3000\">",
     [A(" sp\tx\x0c "), A("\u00a0\u3000")]),
    # Character references in attribute values.
    ("ref-legacy", "<a href=\"&amp\"><a href=\"&lt\"><a href=\"&copy\"><a href=\"&not\">"
     "<a href=\"&AMP\"><a href=\"&nbsp\"><a href=\"&Eacute\"><a href=\"&frac12\">",
     [A("&"), A("<"), A("\u00a9"), A("\u00ac"), A("&"), A("\u00a0"), A("\u00c9"),
      A("\u00bd")]),
    ("ref-not", "<a href=\"&notit;\"><a href=\"&notin;\"><a href=\"&notin\"><a href=\"&noti\">",
     [A("&notit;"), A("\u2209"), A("&notin"), A("&noti")]),
    ("ref-attr-exception", "<a href=\"?a=1&copy=2\"><a href=\"?a=1&copy;=2\"><a href=\"&copyx\">"
     "<a href=\"&amp=\"><a href=\"&amp;=\"><a href=\"&copy2\"><a href=\"&copy-2\">"
     "<a href=\"&copy \"><a href=\"&ampamp;\"><a href=\"&Eacutex\">",
     [A("?a=1&copy=2"), A("?a=1\u00a9=2"), A("&copyx"), A("&amp="), A("&="), A("&copy2"),
      A("\u00a9-2"), A("\u00a9 "), A("&ampamp;"), A("&Eacutex")]),
    ("ref-unquoted", "<a href=&amp><a href=x&copy><a href=&><a href=&#><a href=&#x41>"
     "<a href=&amp;x><a href=x&copy=y>",
     [A("&"), A("x\u00a9"), A("&"), A("&#"), A("A"), A("&x"), A("x&copy=y")]),
    ("ref-quoted-end", "<a href=\"x&\"><a href='&'><a href=\"&#\"><a href=\"&amp\">",
     [A("x&"), A("&"), A("&#"), A("&")]),
    ("ref-named", "<a href=\"&amp;amp;\"><a href=\"&CounterClockwiseContourIntegral;\">"
     "<a href=\"&ThickSpace;\"><a href=\"&NotNestedGreaterGreater;\"><a href=\"&foo;\">"
     "<a href=\"&Amp;\"><a href=\"&lang;\"><a href=\"&AElig\"><a href=\"&QUOT\">"
     "<a href=\"&\u00e9;\"><a href=\"&;\"><a href=\"&&amp;\"><a href=\"&a\">",
     [A("&amp;"), A("\u2233"), A("\u205f\u200a"), A("\u2aa2\u0338"), A("&foo;"),
      A("&Amp;"), A("\u27e8"), A("\u00c6"), A("\""), A("&\u00e9;"), A("&;"), A("&&"),
      A("&a")]),
    ("ref-numeric", "<a href=\"&#65;&#x41;&#X41;&#65&#x41g&#x0000000041;\">"
     "<a href=\"&#0;|&#x0;|&#1;|&#x7F;|&#9;|&#32;|&#13;|&#x26;amp;\">",
     [A("AAAAAgA"), A("\ufffd|\ufffd|\x01|\x7f|\t| |\r|&amp;")]),
    ("ref-c1", "<a href=\"&#128;&#x80;&#129;&#x8D;&#x8F;&#x90;&#x9D;&#x9F;&#150;&#x81;\">",
     [A("\u20ac\u20ac\x81\x8d\x8f\x90\x9d\u0178\u2013\x81")]),
    ("ref-range", "<a href=\"&#xD800;|&#xDFFF;|&#x110000;|&#99999999999999999999;|"
     "&#x10FFFF;|&#xFFFE;|&#x1F600;|&#xFDD0;\">",
     [A("\ufffd|\ufffd|\ufffd|\ufffd|\U0010ffff|\ufffe|\U0001f600|\ufdd0")]),
    ("ref-numeric-bad", "<a href=\"&#;\"><a href=\"&#x;\"><a href=\"&#xg;\"><a href=\"&#a;\">"
     "<a href=\"&#X;\"><a href=\"&# 1;\">",
     [A("&#;"), A("&#x;"), A("&#xg;"), A("&#a;"), A("&#X;"), A("&# 1;")]),
    ("ref-newlines", "<a href=\"e&#13;f\"><a href=\"e&#xD;&#10;f\"><a href=\"e\r&#10;f\">",
     [A("e\rf"), A("e\r\nf"), A("e\n\nf")]),
    ("ref-nonutf8", "<a href=\"\udcff&amp;\udcfe&\udcff;\">", [A("\udcff&\udcfe&\udcff;")]),
    # Markup declarations and comments.
    ("comment-abrupt", "<!--><a href=c1><!---><a href=c2><!----><a href=c3>",
     [A("c1"), A("c2"), A("c3")]),
    ("comment-bang", "<!-- x --!><a href=c4><!-- --!x --><a href=c5>", [A("c4"), A("c5")]),
    ("comment-bang-dash", "<!--a--!-><a href=no>--><a href=c6>", [A("c6")]),
    ("comment-dashes", "<!-- -- ><a href=no> --><a href=c7><!-- a -- b ---><a href=c8>",
     [A("c7"), A("c8")]),
    ("comment-nested", "<!-- <!-- --><a href=c9><!-- <!--><a href=c10><!--<!---><a href=c11>",
     [A("c9"), A("c10"), A("c11")]),
    ("comment-hides", "<!-- <a href=no> --><!--<a href=no>--><a href=c12>", [A("c12")]),
    ("comment-nul", "<!--\0--\0><a href=no>--><a href=c13>", [A("c13")]),
    ("bogus-pi", "<?xml version=\"1.0\"?><a href=b1><?php echo \"<a href=no>\" ?><a href=b2>",
     [A("b1"), A("b2")]),
    ("bogus-decl", "<!x><a href=b3><!DOCTYP><a href=b4><!-x-><a href=b5><!- <a href=no> -->"
     "<a href=b6><!><a href=b7>",
     [A("b3"), A("b4"), A("b5"), A("b6"), A("b7")]),
    ("cdata", "<![CDATA[ <a href=no> ]]><a href=cd1><![CDATA[x]]><a href=cd2>"
     "<![cdata[<a href=no>]]><a href=cd3>",
     [A("cd1"), A("cd2"), A("cd3")]),
    # In <svg> a browser's tree builder makes CDATA a real section, where the
    # first '>' does not end it; the tokenizer alone (fetch, html5lib without
    # a parser) ends the bogus comment there and finds cd4.
    ("cdata-svg", "<svg><![CDATA[ > <a href=cd4> ]]></svg>", [A("cd4")]),
    ("doctype", "<!doctype html><a href=dt1><!DOCTYPE html PUBLIC \"-//x>y\" \"z\"><a href=dt2>"
     "<!DOCTYPE html SYSTEM 'a>b'><a href=dt3><!DOCTYPE html PUBLIC \"x\" 'y>'><a href=dt4>",
     [A("dt1"), A("dt2"), A("dt3"), A("dt4")]),
    ("doctype-bogus", "<!DOCTYPE <a href=no><a href=dt5><!DOCTYPE html bogus \"<a href=no>\">"
     "<a href=dt6><!DOCTYPE html PUBLIC><a href=dt7><!DOCTYPEhtml><a href=dt8>"
     "<!DOCTYPE html PUBLICx \"<a href=no>\"><a href=dt9><!DOCTYPE html SYSTEM\"a\"'<a href=no>'>"
     "<a href=dt10>",
     [A("dt5"), A("dt6"), A("dt7"), A("dt8"), A("dt9"), A("dt10")]),
    # RAWTEXT: style, xmp, iframe, noembed, noframes.
    ("rawtext-style", "<style><a href=no></stylex><a href=no></style\t><a href=r1>"
     "<style><!--</style><a href=r2>-->",
     [A("r1"), A("r2")]),
    ("rawtext-xmp", "<xmp><title><a href=no></XMP><a href=r3><XMP/><a href=no></xmp/><a href=r4>",
     [A("r3"), A("r4")]),
    ("rawtext-iframe", "<iframe src=r5><a href=no></iframe><a href=r6><iframe src=r7 />"
     "<a href=no></iframe><a href=r8>",
     [S("iframe", "r5"), A("r6"), S("iframe", "r7"), A("r8")]),
    ("rawtext-noembed", "<noembed><a href=no></noembed><a href=r9>"
     "<noframes><a href=no></noframes><a href=r10>",
     [A("r9"), A("r10")]),
    ("rawtext-endattrs", "<style></style x=\"></style><a href=no>\"><a href=r11>", [A("r11")]),
    # RCDATA: title, textarea.
    ("rcdata-title", "<title><a href=no></titlex><a href=no></title ><a href=r12>",
     [A("r12")]),
    ("rcdata-title-attrs", "<title></title foo=\"></title><a href=no>\"><a href=r13>",
     [A("r13")]),
    ("rcdata-title-case", "<title></TITLE><a href=r14><TITLE></title><a href=r15>"
     "<title/><a href=no></title/><a href=r16>",
     [A("r14"), A("r15"), A("r16")]),
    ("rcdata-title-fake", "<title></ title><a href=no></titl><a href=no></title\0><a href=no>"
     "</title\u00e9><a href=no></title><a href=r17>",
     [A("r17")]),
    ("rcdata-textarea", "<textarea>&lt;/textarea&gt;<a href=no></textarea><a href=r18>"
     "<textarea><!--</textarea><a href=r19>-->",
     [A("r18"), A("r19")]),
    ("rcdata-other-end", "<title></textarea><a href=no></style><a href=no></title><a href=r20>",
     [A("r20")]),
    ("noscript", "<noscript><a href=ns1></noscript><a href=ns2>", [A("ns1"), A("ns2")]),
    # Script data, escaped and double escaped.
    ("script", "<script><a href=no></script><a href=s1>", [A("s1")]),
    ("script-escaped", "<script><!--</script><a href=s2>-->", [A("s2")]),
    ("script-double", "<script><!--<script></script><a href=no></script><a href=s3>",
     [A("s3")]),
    ("script-double-end", "<script><!--<script></script>--><a href=no></script><a href=s4>",
     [A("s4")]),
    ("script-double-dashes", "<script><!--<script>--></script><a href=s5>", [A("s5")]),
    ("script-double-not", "<script><!--<scriptx></script><a href=s6>", [A("s6")]),
    ("script-double-slash", "<script><!-- <script/></script><a href=no></script><a href=s7>",
     [A("s7")]),
    ("script-double-case", "<script><!--<SCRIPT></SCRIPT></script><a href=s8>", [A("s8")]),
    ("script-double-scriptx", "<script><!--<script></scriptx></script><a href=no></script>"
     "<a href=s9>",
     [A("s9")]),
    ("script-escape-gt", "<script><!--><a href=no></script><a href=s10>", [A("s10")]),
    ("script-not-escape", "<script><!-></script><a href=s11><script><!x--<script></script>"
     "<a href=s12>",
     [A("s11"), A("s12")]),
    ("script-escaped-nul", "<script><!--\0<script>\0</script>\0</script><a href=s13>",
     [A("s13")]),
    ("script-endattrs", "<script></script x=\"</script><a href=no>\"><a href=s14>"
     "<script></SCRIPT ><a href=s15>",
     [A("s14"), A("s15")]),
    ("script-dash-lt", "<script><!-- - -<script> -</script>-> --><a href=no></script><a href=s16>",
     [A("s16")]),
    ("script-double-lt", "<script><!--<script><</script><a href=no></script><a href=s17>",
     [A("s17")]),
    # Where a tree builder would move or drop the element.
    ("context", "<select><a href=x1></select><body>text</body><frame src=x2>"
     "<frameset><frame src=x3></frameset><map><area href=x4></map>"
     "<link href=x5 rel=stylesheet><base href=x6><base href=x7><table><a href=x8></table>"
     "<svg><a href=x9></a></svg><math><a xlink:href=no></math>",
     [A("x1"), S("frame", "x2"), S("frame", "x3"), H("area", "x4"), H("link", "x5"),
      H("base", "x6"), H("base", "x7"), A("x8"), A("x9")]),
    # Names and references longer than a small buffer would hold.
    ("long-names", "<aaaaaaaaaaaaaaaaaaaaaaaa href=no><a hrefhrefhrefhrefhref=no>"
     "<a hrefxxxxxxxxxxxx=no><a hrefxxxxxxxxxxxxx=no><iframexxxxxxxxxxxxxxxxx src=no>"
     "<titlexxxxxxxxxxxxxxxxxxxxx><a href=ln1><title></titlexxxxxxxxxxxxxxxxxxxxx>"
     "<a href=no></title><a href=ln2><script><!--<scriptxxxxxxxxxxxxxxxxxxxxx></script>"
     "<a href=ln3><a xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1 href=ln4>",
     [A("ln1"), A("ln2"), A("ln3"), A("ln4")]),
    ("long-refs", "<a href=\"&CounterClockwiseContourIntegralxxxxxxxxxxxxxxxxxxxxxxxx;\">"
     "<a href=\"&amp" + "x" * 60 + "\"><a href=\"&" + "b" * 100 + ";\">"
     "<a href=\"&#x" + "0" * 100 + "41;\"><a href=\"&#" + "9" * 100 + ";\">"
     "<a href=\"&" + "a" * 47 + "\">",
     [A("&CounterClockwiseContourIntegralxxxxxxxxxxxxxxxxxxxxxxxx;"), A("&amp" + "x" * 60),
      A("&" + "b" * 100 + ";"), A("A"), A("\ufffd"), A("&" + "a" * 47)]),
    # Bytes that are not ASCII, or not UTF-8.
    ("utf8", "<a href=\"\u00e9\u4e2d\U0001f600\"><a href=\u00e9>",
     [A("\u00e9\u4e2d\U0001f600"), A("\u00e9")]),
    ("not-utf8", "<a href=\"\udcff\udcfe\"><a href=\"\udce2\udc82\"><a href=\udced\udca0\udc80>"
     "<a href='\udcc0\udcaf'><a href=x\udce2>\udce2\udc82<a href=y>\udcf0<a href=z>",
     [A("\udcff\udcfe"), A("\udce2\udc82"), A("\udced\udca0\udc80"), A("\udcc0\udcaf"),
      A("x\udce2"), A("y"), A("z")]),
]

# Where html5lib 1.1 deviates from the standard, so they are kept out of the
# *.html files that tokdiff.py compares with html5lib, and written to
# deviations.whatwg instead (same format, checked against the standard only).
# html5lib follows the rule from before 2017 for a NUL right after "<!--" or
# "<!---": it stays in the comment start (dash) state, so a following ">" or
# "->" closes the comment and the link after it counts. The standard now
# reconsumes the NUL in the comment state, where ">" is comment text.
DEVIATIONS = [
    ("comment-start-nul", "<!--\0><a href=no>--><a href=dv1>", [A("dv1")]),
    ("comment-start-nul-dash", "<!--\0-><a href=no>--><a href=dv2>", [A("dv2")]),
    ("comment-start-dash-nul", "<!---\0><a href=no>--><a href=dv3>", [A("dv3")]),
]

# Cases that end at the end of the file, one a file: (name, HTML, links).
EOF_CASES = [
    ("eof-tagname", "<a href=e1><a", [A("e1")]),
    ("eof-attrname", "<a href=e1><a href", [A("e1")]),
    ("eof-before-value", "<a href=e1><a href=", [A("e1")]),
    ("eof-unquoted", "<a href=e1><a href=no", [A("e1")]),
    ("eof-unquoted-ref", "<a href=e1><a href=x&amp", [A("e1")]),
    ("eof-quoted", "<a href=e1><a href=\"no>", [A("e1")]),
    ("eof-after-value", "<a href=e1><a href=\"no\"", [A("e1")]),
    ("eof-selfclosing", "<a href=e1><a href=\"no\"/", [A("e1")]),
    ("eof-comment", "<a href=e1><!-- <a href=no>", [A("e1")]),
    ("eof-bogus", "<a href=e1><? <a href=no", [A("e1")]),
    ("eof-doctype", "<a href=e1><!DOCTYPE html PUBLIC \"<a href=no>", [A("e1")]),
    ("eof-title", "<a href=e1><title><a href=no></title", [A("e1")]),
    ("eof-script", "<a href=e1><script><!--<script><a href=no>", [A("e1")]),
    ("eof-ltslash", "<a href=e1></", [A("e1")]),
    ("plaintext", "<a href=p1><plaintext></plaintext><a href=no><plaintext>", [A("p1")]),
    ("plaintext-selfclosing", "<PLAINTEXT/><a href=no>", []),
    ("bom", "\ufeff<a href=bom1>\ufeff<a href=bom2>", [A("bom1"), A("bom2")]),
    ("empty", "", []),
]


def limits():
    """limits.html: values about VALUE_MAX bytes long, and its links."""
    n = VALUE_MAX
    x = "x"
    cases = [
        (x * n, True),                      # exactly the limit
        (x * (n + 1), False),               # one over
        (x * (n - 2) + "\u00e9", True),     # a two-byte character ends at the limit
        (x * (n - 1) + "\u00e9", False),    # and one that crosses it
        (x * (n - 1) + "&amp;", True),      # a reference that decodes to the last byte
        (x * (n - 1) + "&copy;", False),    # and one that decodes across it
        (x * (n - 1) + "\r\n", True),       # CRLF is one byte, LF
        ("\0" * (n // 3), True),            # U+FFFD is three bytes: 65535
        ("\0" * (n // 3 + 1), False),       # 65538
    ]
    html, want = [], []
    for i, (value, kept) in enumerate(cases):
        html.append("<a href=\"%s\" src=l%d>\n" % (value, i))
        exp = value.replace("&amp;", "&").replace("&copy;", "\u00a9").replace("\r\n", "\n")
        exp = exp.replace("\0", "\ufffd")
        if kept:
            want.append(A(exp))
        want.append(S("a", "l%d" % i))
    # The first of two duplicates wins even when it is too long: no link.
    html.append("<a href=%s href=short>\n" % (x * (n + 1)))
    html.append("<base href='%s'><a href=last>\n" % (x * (n + 7)))
    want.append(A("last"))
    return "".join(html), want


def encode(s):
    return s.encode("utf-8", "surrogateescape")


def escape(b):
    return b"".join(
        bytes([c]) if 0x21 <= c <= 0x7E and c != 0x5C else b"\\x%02x" % c for c in b
    )


def listing(links):
    return [b"%s\t%s\t%s" % (el.encode(), at.encode(), escape(encode(v))) for el, at, v in links]


def joined(cases):
    """(HTML bytes, listing) of cases one after another, each after a marker."""
    html, want = [], []
    for i, (name, case, links) in enumerate(cases, 1):
        marker = "#%02d-%s" % (i, name)
        html.append("\n<a href=%s>\n%s" % (marker, case))
        want += [A(marker)] + links
    return encode("".join(html) + "\n"), listing(want)


def files():
    """{file name: (HTML bytes, expected listing lines)}."""
    out = {"hard.html": joined(CASES), "deviations.whatwg": joined(DEVIATIONS)}
    for name, case, links in EOF_CASES:
        out[name + ".html"] = (encode(case), listing(links))
    case, links = limits()
    out["limits.html"] = (encode(case), listing(links))
    return out


def write(top):
    os.makedirs(top, exist_ok=True)
    for name, (data, want) in sorted(files().items()):
        with open(os.path.join(top, name), "wb") as f:
            f.write(data)
        with open(os.path.join(top, os.path.splitext(name)[0] + ".expect"), "wb") as f:
            f.write(b"".join(line + b"\n" for line in want))
    return 0


def check():
    """Run html5lib (tokdiff.py) on every case; print where it disagrees."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import tokdiff

    bad = 0
    cases = [(n, c, l) for n, c, l in CASES] + [(n, c, l) for n, c, l in EOF_CASES]
    cases.append(("limits",) + limits())
    for name, case, links in cases:
        got, want = tokdiff.links(encode(case)), listing(links)
        if got != want:
            bad += 1
            print("%s: %r" % (name, case[:200]))
            print("  standard: %r\n  html5lib: %r" % (want, got))
    # And the assembled file, markers included.
    data, want = files()["hard.html"]
    if tokdiff.links(data) != want:
        bad += 1
        print("hard.html as a whole differs")
    print("make_hard: %d of %d cases differ" % (bad, len(cases) + 1))
    for name, case, links in DEVIATIONS:
        got = tokdiff.links(encode(case))
        print("known deviation %s: %r\n  standard: %r\n  html5lib: %r"
              % (name, case, listing(links), got))
    return 1 if bad else 0


def verify(linkdump):
    """Check LINKDUMP against the standard on every case, split feeds too."""
    import subprocess
    import tempfile

    bad = 0
    with tempfile.TemporaryDirectory() as top:
        write(top)
        for name, (_, want) in sorted(files().items()):
            split = ["-s", "random", "-r", "1"] if name == "limits.html" else ["-s", "every"]
            r = subprocess.run([linkdump] + split + [os.path.join(top, name)],
                               stdout=subprocess.PIPE)
            got = r.stdout.split(b"\n")[1:-1]
            if r.returncode != 0 or got != want:
                bad += 1
                print("%s: status %d" % (name, r.returncode))
                for a, b in zip(want + [b""] * len(got), got + [b""] * len(want)):
                    if a != b:
                        print("  standard: %r\n  linkdump: %r" % (a, b))
                        break
    print("make_hard: %d of %d files differ from the standard" % (bad, len(files())))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--check":
        return check()
    if len(argv) == 3 and argv[1] == "--verify":
        return verify(argv[2])
    if len(argv) == 2 and not argv[1].startswith("-"):
        return write(argv[1])
    sys.stderr.write("usage: make_hard.py DIR | --check | --verify LINKDUMP\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
