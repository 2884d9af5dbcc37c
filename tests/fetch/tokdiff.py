#!/usr/bin/python3
"""tokdiff - the differential test of fetch's HTML tokenizer against html5lib.

    tokdiff.py LINKDUMP PATH...     compare LINKDUMP's links with html5lib's
    tokdiff.py --expect PATH...     print html5lib's links in LINKDUMP's format
    tokdiff.py --self-test          check this script's emulation of the parser

A PATH is a file, or a directory standing for every *.html and *.htm file
under it, in sorted order. LINKDUMP is tests/fetch/linkdump (see its opening
comment for the listing format); it is run on the whole feed only (-s none),
in batches of files, while two worker processes run html5lib on the same
files. Each file whose two listings differ is printed with the start of a
unified diff of them. Exit status: 0 when every file agrees, 1 when one
differs, 2 on a usage error or when LINKDUMP fails.

The reference is html5lib's tokenizer (html5lib._tokenizer.HTMLTokenizer,
Debian's python3-html5lib 1.1, installed for /usr/bin/python3 only), not
its tree builder: fetch reads tags and builds no tree, so an <a href>
inside <select> or a <frame src> after body content is a link to both.
What the tree builder would still do to the tokenizer, this script does
(see TEXT_STATES): after the start tag of an element whose content is
RAWTEXT, RCDATA, script data or plaintext, it switches the tokenizer's
state exactly as html5lib's html5parser.py does, by setting
tokenizer.state before asking for the next token. The tokenizer is a
generator that runs one state function, then yields the tokens that call
queued; a start tag is emitted by the call that consumes its '>', so the
switch lands before the next character is read. The "appropriate end tag"
test compares with tokenizer.currentToken, which is still that start tag.
No parser object is given, so <![CDATA[ is a bogus comment, as in HTML
content (fetch knows no foreign content).

A file is read as bytes and decoded as UTF-8 with errors='surrogateescape',
and html5lib gets the str, so it sniffs no encoding; a value is encoded
back the same way, so a byte that is not UTF-8 comes out as itself, as
fetch passes it through. A value longer than VALUE_MAX bytes is dropped,
as fetch drops it (examples/fetch/html.h, HTML_VALUE_MAX).

Standard library and html5lib only.
"""
import difflib
import multiprocessing
import os
import re
import subprocess
import sys
import time

from html5lib._tokenizer import HTMLTokenizer
from html5lib.constants import tokenTypes

# examples/fetch/html.h, HTML_VALUE_MAX.
VALUE_MAX = 64 * 1024

# The link attributes of each element, in the order they are listed.
LINK_ATTRS = {
    "a": ("href", "src"),
    "link": ("href", "src"),
    "area": ("href", "src"),
    "frame": ("href", "src"),
    "iframe": ("href", "src"),
    "base": ("href",),
}

# The tokenizer state the tree builder switches to after each start tag
# (html5parser.py: parseRCDataRawtext, startTagScript, startTagPlaintext),
# whatever the self-closing flag. noscript is left alone: html5lib switches
# it only with scripting on, and fetch never does.
TEXT_STATES = {
    "title": "rcdataState",
    "textarea": "rcdataState",
    "style": "rawtextState",
    "xmp": "rawtextState",
    "iframe": "rawtextState",
    "noembed": "rawtextState",
    "noframes": "rawtextState",
    "script": "scriptDataState",
    "plaintext": "plaintextState",
}

START_TAG = tokenTypes["StartTag"]

# Bytes a listing shows as themselves; every other one is \xHH.
_ESCAPE_RE = re.compile(rb"[^\x21-\x5b\x5d-\x7e]")

# Files of a directory that are compared.
_SUFFIXES = (".html", ".htm")

# Files per LINKDUMP run, and the lines of diff shown per differing file.
_BATCH = 500
_DIFF_LINES = 24


def escape(value):
    """value (bytes) as a listing shows it."""
    return _ESCAPE_RE.sub(lambda m: b"\\x%02x" % m[0][0], value)


def links(data):
    """The listing lines (bytes, no newline) of html5lib's links in data."""
    tokenizer = HTMLTokenizer(data.decode("utf-8", "surrogateescape"))
    out = []
    for token in tokenizer:
        if token["type"] != START_TAG:
            continue
        name = token["name"]
        state = TEXT_STATES.get(name)
        if state is not None:
            # As html5parser.py does; takes effect before the generator
            # resumes, so before the next character is consumed.
            tokenizer.state = getattr(tokenizer, state)
        for attr in LINK_ATTRS.get(name, ()):
            value = token["data"].get(attr)
            if value is None:
                continue
            raw = value.encode("utf-8", "surrogateescape")
            if len(raw) > VALUE_MAX:
                continue
            out.append(b"%s\t%s\t%s" % (name.encode(), attr.encode(), escape(raw)))
    return out


def file_links(path):
    """(path, listing lines, size) of one file, or (path, None, error
    message) when it cannot be read; runs in a worker."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return path, None, str(e)
    return path, links(data), len(data)


def expand(paths):
    """The files PATH... stand for, in order."""
    files = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = []
        for top, _, names in os.walk(path):
            found.extend(os.path.join(top, n) for n in names if n.endswith(_SUFFIXES))
        files.extend(sorted(found))
    return files


def fail(message):
    """Stop with exit status 2: LINKDUMP or a file could not be used."""
    sys.stderr.write("tokdiff: %s\n" % message)
    sys.exit(2)


def run_linkdump(linkdump, files):
    """LINKDUMP -s none's listing of each file, in order, run in batches."""
    got = []
    for i in range(0, len(files), _BATCH):
        batch = files[i : i + _BATCH]
        r = subprocess.run([linkdump, "-s", "none", "--"] + batch, stdout=subprocess.PIPE)
        if r.returncode != 0:
            fail("%s exited with status %d" % (linkdump, r.returncode))
        names = []
        for line in r.stdout.split(b"\n")[:-1]:
            if line.startswith(b"== "):
                names.append(os.fsdecode(line[3:]))
                got.append([])
            elif not names:
                fail("%s printed a link before a file name" % linkdump)
            else:
                got[-1].append(line)
        if names != batch:
            fail("%s did not list the files it was given" % linkdump)
    return got


def show_diff(path, want, got):
    """Print the start of the unified diff of html5lib's and LINKDUMP's listing."""
    lines = list(
        difflib.unified_diff(
            [l.decode("ascii", "backslashreplace") for l in want],
            [l.decode("ascii", "backslashreplace") for l in got],
            "html5lib",
            "linkdump",
            n=3,
            lineterm="",
        )
    )
    print("differs: %s (%d links from html5lib, %d from linkdump)" % (path, len(want), len(got)))
    for line in lines[:_DIFF_LINES]:
        print("  " + line)
    if len(lines) > _DIFF_LINES:
        print("  ... %d more diff lines" % (len(lines) - _DIFF_LINES))


def compare(linkdump, paths):
    """The differential test; returns the exit status."""
    start = time.monotonic()
    files = expand(paths)
    if not files:
        fail("no files in %s" % " ".join(paths))
    with multiprocessing.Pool(2) as pool:
        results = pool.imap(file_links, files, chunksize=4)
        got = run_linkdump(linkdump, files)
        ndiff = nlinks = nbytes = 0
        for (path, want, size), have in zip(results, got):
            if want is None:
                fail(size)
            nlinks += len(want)
            nbytes += size
            if want != have:
                ndiff += 1
                show_diff(path, want, have)
    secs = time.monotonic() - start
    print(
        "tokdiff: %d files (%.1f MB), %d links compared, %d differ, %.1f s"
        % (len(files), nbytes / 1e6, nlinks, ndiff, secs)
    )
    return 1 if ndiff else 0


def expect(paths):
    """Print html5lib's listing of PATH... as LINKDUMP prints its own."""
    out = sys.stdout.buffer
    for path in expand(paths):
        _, lines, size = file_links(path)
        if lines is None:
            fail(size)
        out.write(b"== " + os.fsencode(path) + b"\n")
        for line in lines:
            out.write(line + b"\n")
    return 0


# Cases that check the emulation above rather than html5lib: the state
# switch must land before the tokenizer reads on, and only for the elements
# in TEXT_STATES.
_SELF_TESTS = [
    (b"<title><a href=x></title>", []),
    (b"<script><a href=x></script><a href=y>", [b"a\thref\ty"]),
    (b"<title/><a href=x></title><a href=y>", [b"a\thref\ty"]),
    (b"<iframe src=f><a href=x></iframe><a href=y>", [b"iframe\tsrc\tf", b"a\thref\ty"]),
    (b"<noscript><a href=x></noscript>", [b"a\thref\tx"]),
    (b"<plaintext></plaintext><a href=x>", []),
    (b"<textarea></textarea ><a href=x>", [b"a\thref\tx"]),
    (b"<a href='\xff \\ \xc3\xa9'>", [b"a\thref\t\\xff\\x20\\x5c\\x20\\xc3\\xa9"]),
    (b"<a href=" + b"x" * VALUE_MAX + b"><a href=" + b"x" * (VALUE_MAX + 1) + b">",
     [b"a\thref\t" + b"x" * VALUE_MAX]),
]


def self_test():
    """Check the emulation on _SELF_TESTS; returns the exit status."""
    bad = 0
    for data, want in _SELF_TESTS:
        got = links(data)
        if got != want:
            bad += 1
            print("self-test: %r\n  want %r\n  got  %r" % (data[:80], want, got))
    print("self-test: %d of %d cases wrong" % (bad, len(_SELF_TESTS)))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) >= 3 and argv[1] == "--expect":
        return expect(argv[2:])
    if len(argv) >= 3 and not argv[1].startswith("-"):
        return compare(argv[1], argv[2:])
    sys.stderr.write(
        "usage: tokdiff.py LINKDUMP PATH...\n"
        "       tokdiff.py --expect PATH...\n"
        "       tokdiff.py --self-test\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
