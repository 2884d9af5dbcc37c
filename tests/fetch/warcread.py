#!/usr/bin/env python3
"""warcread.py - an independent reader of WARC files, for testing fetch --warc.

Usage:
  warcread.py [--fetch] [--torn-tail] [--raw-chunked-digest] [--list] FILE...

Reads each FILE (plain, or gzip when its name ends in .gz) with the Python
standard library only, and checks, for every record:

  framing     the version line (WARC/1.0 or WARC/1.1; --fetch: 1.1), header
              lines "Name: value" ending in CRLF, an empty line, exactly
              Content-Length bytes of block, then CRLF CRLF; in a .gz
              file, each gzip member holds exactly one whole record
  fields      WARC-Type, WARC-Record-ID (<...>, unique in the file),
              WARC-Date (ISO 8601, UTC) and Content-Length; WARC-Target-URI
              on request and response records; the first record is a
              warcinfo
  pairs       every response record has a request record for the same
              WARC-Target-URI, the two linked by WARC-Concurrent-To (either
              one naming the other)
  digests     WARC-Block-Digest, when present, is the block's; for a
              response, WARC-Payload-Digest, when present, is its
              payload's: the entity body of the final HTTP response in
              the block (after any 1xx), with the chunked transfer coding
              removed (by this reader, not by any HTTP library) and the
              content coding kept. A record with WARC-Truncated may end
              anywhere in its body.

--fetch adds what fetch promises beyond the standard: WARC/1.1; on
request and response records WARC-IP-Address, WARC-Block-Digest, the
Content-Type application/http;msgtype=request or =response and a
WARC-Record-ID of the form <urn:uuid:v4>; a WARC-Payload-Digest on every
response whose block holds a complete head; a block digest on the
warcinfo; in a .gz file, one gzip member per record.

--torn-tail accepts a file whose last record (or gzip member) is cut
short, as a crash leaves it: the bytes after the last whole record must be
a prefix of a record (every complete header line well formed, a block no
longer than Content-Length, a trailer that starts as CRLF CRLF does). A
bad record anywhere else, or a tail that could not grow into a record,
still fails.

--raw-chunked-digest also accepts a payload digest of a chunked response
taken over its body with the chunk framing left in, as wget 1.21 writes
it (fetch never does); the summary line counts such records.

--list prints one JSON object per record on stdout: type, id, uri,
concurrent (a list), truncated, block_digest, payload_digest, status (of
an HTTP response block, or null), the record's offset in the file (of its
gzip member in a .gz file).

Exit status: 0 when every file passed (each gets a line on stderr saying
how many records it holds, and whether it had a torn tail), 1 when one
failed (each problem is printed), 2 on a usage error.
"""

import base64
import binascii
import hashlib
import json
import re
import sys
import zlib

CRLF = b"\r\n"
FIELD_RE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$")
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$")
UUID4_RE = re.compile(r"^<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}>$")
HEAD_END_RE = re.compile(rb"\r?\n\r?\n")


class Bad(Exception):
    """A record that breaks the format."""


class Torn(Exception):
    """Bytes that end before a record does, but could grow into one."""


def parse_record(data, pos):
    """Parse one record of data at pos; return (headers, block, end).

    headers is a list of (name, value) pairs, names as written. Raises Bad
    for a broken record, Torn for one cut short by the end of data."""
    eol = data.find(CRLF, pos)
    if eol < 0:
        if b"WARC/1.1".startswith(data[pos:pos + 8]) or b"WARC/1.0".startswith(data[pos:pos + 8]):
            raise Torn("inside the version line")
        raise Bad(f"no version line: {data[pos:pos + 20]!r}")
    version = data[pos:eol]
    if version not in (b"WARC/1.0", b"WARC/1.1"):
        raise Bad(f"version line {version[:40]!r}")
    headers = []
    pos = eol + 2
    while True:
        eol = data.find(CRLF, pos)
        if eol < 0:
            raise Torn("inside the header")
        line = data[pos:eol]
        pos = eol + 2
        if not line:
            break
        m = FIELD_RE.match(line)
        if not m:
            raise Bad(f"header line {line[:80]!r}")
        try:
            headers.append((m.group(1).decode("ascii"), m.group(2).decode("utf-8")))
        except UnicodeDecodeError:
            raise Bad(f"header line not UTF-8: {line[:80]!r}")
    length = field(headers, "Content-Length")
    if length is None or not re.fullmatch(r"\d+", length):
        raise Bad(f"Content-Length {length!r}")
    end = pos + int(length)
    if end > len(data):
        raise Torn("inside the block")
    block = data[pos:end]
    trailer = data[end:end + 4]
    if trailer != CRLF + CRLF:
        if len(trailer) < 4 and (CRLF + CRLF).startswith(trailer):
            raise Torn("inside the CRLF CRLF after the block")
        raise Bad(f"the block is not followed by CRLF CRLF but {trailer!r}")
    return version, headers, block, end + 4


def field(headers, name, every=False):
    """The value of header name (case-insensitive): the first, or all of them."""
    values = [v for n, v in headers if n.lower() == name.lower()]
    return values if every else (values[0] if values else None)


def digest_ok(value, data):
    """Whether a WARC digest value ("sha1:BASE32" or "sha1:hex") is data's."""
    algo, _, text = value.partition(":")
    names = {"sha1": "sha1", "sha256": "sha256", "sha-256": "sha256", "md5": "md5"}
    if algo.lower() not in names or not text:
        raise Bad(f"digest {value!r}: unknown form")
    h = hashlib.new(names[algo.lower()], data).digest()
    if len(text) == 2 * len(h) and re.fullmatch(r"[0-9a-fA-F]+", text):
        return binascii.unhexlify(text) == h
    return base64.b32encode(h).decode().rstrip("=") == text.upper().rstrip("=")


def dechunk(body, lenient):
    """The chunked body with its framing removed; lenient: it may stop anywhere."""
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            if lenient:
                return bytes(out)
            raise Bad("chunked body: a chunk size line is cut short")
        line = body[pos:eol].rstrip(b"\r").split(b";")[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise Bad(f"chunked body: chunk size {line[:20]!r}")
        pos = eol + 1
        if size == 0:
            return bytes(out)  # the trailer section follows; not payload
        chunk = body[pos:pos + size]
        out += chunk
        pos += len(chunk)
        if len(chunk) < size:
            if lenient:
                return bytes(out)
            raise Bad("chunked body: a chunk is cut short")
        if body[pos:pos + 2] == CRLF:
            pos += 2
        elif body[pos:pos + 1] == b"\n":
            pos += 1
        elif not (lenient and pos >= len(body) - 1):
            raise Bad("chunked body: no line end after a chunk")


def http_response(block, lenient):
    """(status, payload, body) of an HTTP response block: payload None when
    the final response's head is not complete; body the bytes after that
    head, as they are in the block."""
    pos = 0
    status = None
    while True:
        m = HEAD_END_RE.search(block, pos)
        lines = re.split(rb"\r?\n", block[pos:m.start() if m else len(block)])
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise Bad(f"the block does not start with a status line: {lines[0][:60]!r}")
        status = int(parts[1])
        if not m:
            return status, None, None
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Bad(f"HTTP header line {line[:60]!r}")
            headers.setdefault(name.strip().lower(), value.strip())
        pos = m.end()
        if status // 100 != 1:
            break
    body = block[pos:]
    if status in (204, 304):
        return status, b"", body
    te = headers.get(b"transfer-encoding", b"")
    if te and te.split(b",")[-1].strip().lower() == b"chunked":
        return status, dechunk(body, lenient), body
    length = headers.get(b"content-length")
    if length is not None and length.isdigit():
        return status, body[:int(length)], body
    return status, body, body


def members(data, torn_ok):
    """Split gzip data into (offset, decompressed, whole) per member. The
    input goes in by pieces, so that finding where a member ends does not
    copy the rest of the file each time."""
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        out = []
        end = pos
        try:
            while not d.eof and end < len(data):
                piece = view[end:end + 65536]
                out.append(d.decompress(piece))
                end += len(piece)
        except zlib.error as e:
            raise Bad(f"gzip member at {pos}: {e}")
        if not d.eof:
            if not torn_ok:
                raise Bad(f"gzip member at {pos} is cut short")
            yield pos, b"".join(out), False
            return
        yield pos, b"".join(out), True
        pos = end - len(d.unused_data)


def records(data, gz, torn_ok, state):
    """Yield (offset, version, headers, block) of each whole record; a torn
    tail, when allowed, ends the iteration (state["torn"] describes it)."""
    if gz:
        for off, text, whole in members(data, torn_ok):
            try:
                if not text and not whole:
                    raise Torn("an empty gzip member")
                version, headers, block, end = parse_record(text, 0)
                if not whole:
                    raise Torn("the last gzip member is cut short after a whole record")
                if end != len(text):
                    raise Bad(f"gzip member at {off} holds more than one record")
            except Torn as e:
                if not whole:
                    state["torn"] = f"gzip member at {off}: {e}"
                    return
                raise Bad(f"gzip member at {off}: a record cut short ({e})")
            yield off, version, headers, block
        return
    pos = 0
    while pos < len(data):
        try:
            version, headers, block, end = parse_record(data, pos)
        except Torn as e:
            if torn_ok:
                state["torn"] = f"at {pos}: {e}"
                return
            raise Bad(f"record at {pos} is cut short ({e})")
        yield pos, version, headers, block
        pos = end


def check_file(path, fetch, torn_ok, raw_chunked, listing):
    problems = []
    data = open(path, "rb").read()
    gz = path.endswith(".gz")
    seen_ids = set()
    requests = {}   # id -> (uri, concurrent ids)
    responses = []  # (offset, id, uri, concurrent ids)
    count = 0
    state = {"torn": None, "raw_chunked": 0}

    def bad(offset, msg):
        problems.append(f"{path}: record at {offset}: {msg}")

    try:
        for off, version, headers, block in records(data, gz, torn_ok, state):
            count += 1
            wtype = field(headers, "WARC-Type")
            rid = field(headers, "WARC-Record-ID")
            date = field(headers, "WARC-Date")
            uri = field(headers, "WARC-Target-URI")
            concurrent = field(headers, "WARC-Concurrent-To", every=True)
            truncated = field(headers, "WARC-Truncated")
            bdig = field(headers, "WARC-Block-Digest")
            pdig = field(headers, "WARC-Payload-Digest")
            ctype = field(headers, "Content-Type")
            status = None
            if fetch and version != b"WARC/1.1":
                bad(off, f"version {version!r}, fetch writes WARC/1.1")
            if not wtype:
                bad(off, "no WARC-Type")
            if not rid or not (rid.startswith("<") and rid.endswith(">")):
                bad(off, f"WARC-Record-ID {rid!r}")
            elif rid in seen_ids:
                bad(off, f"WARC-Record-ID {rid} used twice")
            seen_ids.add(rid)
            if not date or not DATE_RE.match(date):
                bad(off, f"WARC-Date {date!r} is not ISO 8601 UTC")
            if count == 1 and wtype != "warcinfo":
                bad(off, f"the first record is a {wtype}, not a warcinfo")
            if wtype in ("request", "response") and not uri:
                bad(off, f"a {wtype} without WARC-Target-URI")
            if bdig and not digest_ok(bdig, block):
                bad(off, f"WARC-Block-Digest {bdig} is not the block's")
            if fetch:
                if rid and not UUID4_RE.match(rid):
                    bad(off, f"WARC-Record-ID {rid} is not <urn:uuid:version 4>")
                if not bdig:
                    bad(off, "no WARC-Block-Digest")
                if wtype in ("request", "response"):
                    if not field(headers, "WARC-IP-Address"):
                        bad(off, "no WARC-IP-Address")
                    if ctype != f"application/http;msgtype={wtype}":
                        bad(off, f"Content-Type {ctype!r}")
            if wtype == "response" and ctype and ctype.startswith("application/http"):
                status, payload, body = http_response(block, truncated is not None)
                if payload is None and pdig:
                    bad(off, "a WARC-Payload-Digest, but no complete HTTP head in the block")
                elif (raw_chunked and payload is not None and pdig and payload != body
                      and not digest_ok(pdig, payload) and digest_ok(pdig, body)):
                    state["raw_chunked"] += 1
                elif payload is not None and pdig and not digest_ok(pdig, payload):
                    bad(off, f"WARC-Payload-Digest {pdig} is not the payload's "
                             f"({len(payload)} bytes, {'de-chunked' if b'chunked' in block[:4096].lower() else 'as is'})")
                elif payload is not None and fetch and not pdig:
                    bad(off, "no WARC-Payload-Digest")
            if wtype == "request":
                requests[rid] = (uri, concurrent)
            elif wtype == "response":
                responses.append((off, rid, uri, concurrent))
            if listing:
                print(json.dumps({"file": path, "offset": off, "type": wtype, "id": rid, "uri": uri,
                                  "concurrent": concurrent, "truncated": truncated,
                                  "block_digest": bdig, "payload_digest": pdig, "status": status,
                                  "ip": field(headers, "WARC-IP-Address")}))
    except Bad as e:
        problems.append(f"{path}: {e}")
    except Torn as e:  # from a gzip member that is whole but holds a torn record
        problems.append(f"{path}: {e}")

    for off, rid, uri, concurrent in responses:
        linked = [q for q in concurrent if q in requests] + \
                 [q for q, (_, back) in requests.items() if rid in back]
        if not linked:
            bad(off, f"response {rid} for {uri}: no request record linked by WARC-Concurrent-To")
        elif not any(requests[q][0] == uri for q in linked):
            bad(off, f"response for {uri}: its request is for {requests[linked[0]][0]}")
    if count == 0 and not state["torn"]:
        problems.append(f"{path}: no record")
    for p in problems[:30]:
        print(f"warcread: {p}", file=sys.stderr)
    if len(problems) > 30:
        print(f"warcread: {path}: ... {len(problems) - 30} more problems", file=sys.stderr)
    if not problems:
        tail = f", then a torn tail ({state['torn']})" if state["torn"] else ""
        if state["raw_chunked"]:
            tail += f"; {state['raw_chunked']} payload digests over the chunk framing"
        print(f"warcread: {path}: ok, {count} records{tail}", file=sys.stderr)
    return not problems


def main(argv):
    opts = {"--fetch": False, "--torn-tail": False, "--raw-chunked-digest": False, "--list": False}
    files = []
    for a in argv:
        if a in opts:
            opts[a] = True
        elif a.startswith("-"):
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            return 2
        else:
            files.append(a)
    if not files:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    ok = True
    for path in files:
        try:
            ok &= check_file(path, opts["--fetch"], opts["--torn-tail"], opts["--raw-chunked-digest"],
                             opts["--list"])
        except OSError as e:
            print(f"warcread: {path}: {e}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
