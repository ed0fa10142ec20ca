#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""promparse: a strict parser of the Prometheus text exposition format (version 0.0.4).

Used by the ops tests to check gossipd's /metrics and to read values out of it.

    promparse.py FILE|-            check the exposition, print "ok: N families, M samples"
    promparse.py --selftest        check that the parser itself rejects malformed input

Rules enforced (the format's own, plus the ones Prometheus' parser is strict about):
metric and label names match their grammars; label values are quoted with only \\\\, \\" and \\n
escapes; values are Go floats (NaN, +Inf, -Inf allowed); at most one HELP and one TYPE per
family, TYPE before the family's first sample; a family's samples are contiguous; no series
appears twice; counters are never negative; the text ends with a newline.
"""
import math
import re
import sys

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = ("_bucket", "_count", "_sum")


class ParseError(Exception):
    pass


def _value(tok, lineno):
    if tok in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(tok.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", tok):
        raise ParseError(f"line {lineno}: bad value {tok!r}")
    return float(tok)


def _labels(s, i, lineno):
    """parse {a="b",...} starting at s[i] == '{'; return (dict, index after '}')"""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL_RE.match(s, i)
        if not m:
            raise ParseError(f"line {lineno}: bad label name at column {i + 1}")
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError(f"line {lineno}: expected =\" after label {name}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ParseError(f"line {lineno}: unterminated label value")
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise ParseError(f"line {lineno}: bad escape in label value")
                val.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError(f"line {lineno}: newline in label value")
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ParseError(f"line {lineno}: label {name} repeated")
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ParseError(f"line {lineno}: expected , or }} in labels")


def _family_of(name, families):
    if name in families:
        return name
    for suf in SUFFIXES:
        if name.endswith(suf) and name[: -len(suf)] in families:
            return name[: -len(suf)]
    return name


def parse(text):
    """Return {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    if text and not text.endswith("\n"):
        raise ParseError("exposition does not end with a newline")
    families = {}
    seen_series = set()
    closed = set()  # families whose samples ended (another family's sample came after)
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not METRIC_RE.fullmatch(parts[2]):
                    raise ParseError(f"line {lineno}: bad metric name in {parts[1]}")
                fam = families.setdefault(parts[2], {"type": None, "help": None, "samples": []})
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise ParseError(f"line {lineno}: second HELP for {parts[2]}")
                    fam["help"] = parts[3] if len(parts) > 3 else ""
                else:
                    if fam["type"] is not None:
                        raise ParseError(f"line {lineno}: second TYPE for {parts[2]}")
                    if fam["samples"]:
                        raise ParseError(f"line {lineno}: TYPE after samples of {parts[2]}")
                    if len(parts) < 4 or parts[3].strip() not in TYPES:
                        raise ParseError(f"line {lineno}: bad type for {parts[2]}")
                    fam["type"] = parts[3].strip()
            continue
        m = METRIC_RE.match(line)
        if not m:
            raise ParseError(f"line {lineno}: bad metric name")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, lineno)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ParseError(f"line {lineno}: expected a space before the value")
        toks = rest.split()
        if len(toks) not in (1, 2):
            raise ParseError(f"line {lineno}: expected value [timestamp]")
        value = _value(toks[0], lineno)
        if len(toks) == 2 and not re.fullmatch(r"-?\d+", toks[1]):
            raise ParseError(f"line {lineno}: bad timestamp")
        famname = _family_of(name, families)
        if famname in closed:
            raise ParseError(f"line {lineno}: samples of {famname} are not contiguous")
        if current is not None and current != famname:
            closed.add(current)
        current = famname
        fam = families.setdefault(famname, {"type": None, "help": None, "samples": []})
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ParseError(f"line {lineno}: series {name}{labels} repeated")
        seen_series.add(key)
        if fam["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise ParseError(f"line {lineno}: counter {name} is {value}")
        fam["samples"].append((name, labels, value))
    return families


def value(families, name, **labels):
    """The value of the one series |name| with exactly these |labels| (KeyError if absent)."""
    fam = families[_family_of(name, families)]
    for n, lab, v in fam["samples"]:
        if n == name and lab == labels:
            return v
    raise KeyError(f"{name}{labels}")


def total(families, name, **match):
    """Sum of |name| over every series whose labels include |match|."""
    fam = families.get(_family_of(name, families))
    if fam is None:
        raise KeyError(name)
    return sum(v for n, lab, v in fam["samples"]
               if n == name and all(lab.get(k) == x for k, x in match.items()))


def _selftest():
    good = ('# HELP a_total doc with "quotes" and \\\\ slash\n# TYPE a_total counter\n'
            'a_total{x="1",y="a\\"b\\\\c\\n"} 3\na_total{x="2",} 4 1700000000000\n'
            '# TYPE g gauge\ng -1.5e3\ng{k="v"} NaN\n# just a comment\n\nh_untyped +Inf\n')
    fams = parse(good)
    assert value(fams, "a_total", x="1", y='a"b\\c\n') == 3
    assert total(fams, "a_total") == 7
    assert value(fams, "g") == -1500
    bad = [
        ("no newline", "a 1"),
        ("bad name", "1a 1\n"),
        ("bad label name", 'a{1x="1"} 1\n'),
        ("unquoted label", "a{x=1} 1\n"),
        ("bad escape", 'a{x="\\t"} 1\n'),
        ("unterminated", 'a{x="1} 1\n'),
        ("no value", "a\n"),
        ("bad value", "a one\n"),
        ("extra tokens", "a 1 2 3\n"),
        ("duplicate series", "a 1\na 2\n"),
        ("duplicate labelled series", 'a{x="1"} 1\na{x="1"} 2\n'),
        ("repeated label", 'a{x="1",x="2"} 1\n'),
        ("two TYPEs", "# TYPE a counter\n# TYPE a gauge\na 1\n"),
        ("TYPE after sample", "a 1\n# TYPE a counter\n"),
        ("bad type", "# TYPE a countr\na 1\n"),
        ("two HELPs", "# HELP a x\n# HELP a y\na 1\n"),
        ("negative counter", "# TYPE a counter\na -1\n"),
        ("not contiguous", "a 1\nb 1\na{x=\"1\"} 2\n"),
        ("no space", 'a{x="1"}1\n'),
        ("bad timestamp", "a 1 1.5\n"),
    ]
    for why, text in bad:
        try:
            parse(text)
        except ParseError:
            continue
        raise AssertionError(f"accepted malformed input ({why}): {text!r}")
    print(f"promparse selftest: ok ({len(bad)} malformed inputs rejected)")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "--selftest":
        _selftest()
        return 0
    text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1]).read()
    try:
        fams = parse(text)
    except ParseError as e:
        print(f"promparse: {e}", file=sys.stderr)
        return 1
    untyped = [n for n, f in fams.items() if f["type"] is None or f["help"] is None]
    if untyped:
        print(f"promparse: families without HELP or TYPE: {untyped[:5]}", file=sys.stderr)
        return 1
    print(f"ok: {len(fams)} families, {sum(len(f['samples']) for f in fams.values())} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
