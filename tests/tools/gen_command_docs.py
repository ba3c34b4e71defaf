#!/usr/bin/env python3
"""Regenerates core/src/commands/docs/redis_docs.rs: Redis's own COMMAND INFO / COMMAND DOCS
data (summary, since, group, complexity, doc flags, history, arguments, ACL categories,
tips, key specs) for every command and subcommand keel has.

    tests/tools/gen_command_docs.py [--redis-port N] [--keel-port N]
                                    [--keel-bin PATH] [--out PATH]

The names come from keel's `COMMAND LIST` (so a command added to keel's table shows up
after a rebuild and a rerun); the data from a redis-server of the version keel follows
(7.0.x; the version is written into the file). A port not given is served by a server
this script starts on a free port and stops: `redis-server` from PATH and keel from
--keel-bin (default target/debug/keel-server-under-test, built by
`cargo build -p keel-tests --bins`).

Names Redis lacks are skipped with a note on stderr: their docs are written by hand in
core/src/commands/docs/mod.rs. Keel's flags, arity and handlers stay in its own table; the
first/last/step range is derived from the key specs. What Redis prints and keel derives
(ACL categories implied by flags) is stored without the derived part, so a flag changed
in keel's table changes the categories COMMAND prints, as in Redis.

Uses only the standard library: a RESP3 client in a few lines.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- a minimal RESP3 client ------------------------------------------------------


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.call("HELLO", "3")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def _read(self):
        """Replies as (type, value): maps as lists of pairs, to keep their order."""
        line = self._line()
        kind, head = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return (kind.decode(), head.decode())
        if kind == b":":
            return (":", int(head))
        if kind == b"_":
            return ("_", None)
        if kind == b"$":
            n = int(head)
            return ("$", None if n < 0 else self._exact(n).decode())
        if kind == b"=":
            return ("=", self._exact(int(head)).decode()[4:])
        if kind in (b"*", b"~"):
            return (kind.decode(), [self._read() for _ in range(int(head))])
        if kind == b"%":
            return ("%", [(self._read(), self._read()) for _ in range(int(head))])
        raise ValueError("unexpected reply type %r" % line)


def as_dict(reply):
    assert reply[0] == "%", reply
    return {k[1]: v for k, v in reply[1]}


def strings(reply):
    return [x[1] for x in reply[1]]


# ---- servers ----------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, port):
    proc = subprocess.Popen(
        argv + ["--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("%s did not start on port %d" % (argv[0], port))


# ---- Rust emission ----------------------------------------------------------------


def rs(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def opt(s):
    return "None" if s is None else "Some(%s)" % rs(s)


def flag_set(type_name, names):
    if not names:
        return "%s::NONE" % type_name
    return "flags!(%s: %s)" % (type_name, ", ".join(n.upper() for n in names))


ARG_TYPES = {
    "string": "String",
    "integer": "Integer",
    "double": "Double",
    "key": "Key",
    "pattern": "Pattern",
    "unix-time": "UnixTime",
    "pure-token": "PureToken",
    "oneof": "Oneof",
    "block": "Block",
}
ARG_FIELDS = {"name", "type", "key_spec_index", "token", "summary", "since",
              "deprecated_since", "flags", "arguments"}
DOC_FIELDS = {"summary", "since", "group", "complexity", "doc_flags", "deprecated_since",
              "replaced_by", "history", "arguments", "subcommands"}


def emit_args(args, indent):
    lines = []
    for a in args[1]:
        d = as_dict(a)
        unknown = set(d) - ARG_FIELDS
        if unknown:
            sys.exit("argument field(s) this script does not know: %s" % unknown)
        s = "arg(%s, T::%s)" % (rs(d["name"][1]), ARG_TYPES[d["type"][1]])
        if "key_spec_index" in d:
            s += ".key_spec(%d)" % d["key_spec_index"][1]
        for field, method in [("token", "token"), ("summary", "summary"), ("since", "since"),
                              ("deprecated_since", "deprecated_since")]:
            if field in d:
                s += ".%s(%s)" % (method, rs(d[field][1]))
        if "flags" in d:
            s += ".flags(%s)" % flag_set("ArgFlags", strings(d["flags"]))
        if "arguments" in d:
            lines.append(indent + s + ".args(&[")
            lines.extend(emit_args(d["arguments"], indent + "    "))
            lines.append(indent + "]),")
        else:
            lines.append(indent + s + ",")
    return lines


def emit_key_spec(spec):
    d = as_dict(spec)
    bs, fk = as_dict(d["begin_search"]), as_dict(d["find_keys"])
    bs_spec, fk_spec = as_dict(bs["spec"]), as_dict(fk["spec"])
    if bs["type"][1] == "index":
        begin = "BeginSearch::Index(%d)" % bs_spec["index"][1]
    elif bs["type"][1] == "keyword":
        begin = "BeginSearch::Keyword { keyword: %s, startfrom: %d }" % (
            rs(bs_spec["keyword"][1]), bs_spec["startfrom"][1])
    else:
        begin = "BeginSearch::Unknown"
    if fk["type"][1] == "range":
        find = "FindKeys::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            fk_spec["lastkey"][1], fk_spec["keystep"][1], fk_spec["limit"][1])
    elif fk["type"][1] == "keynum":
        find = "FindKeys::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            fk_spec["keynumidx"][1], fk_spec["firstkey"][1], fk_spec["keystep"][1])
    else:
        find = "FindKeys::Unknown"
    notes = d["notes"][1] if "notes" in d else None
    return "KeySpec { notes: %s, flags: %s, begin_search: %s, find_keys: %s }," % (
        opt(notes), flag_set("KeySpecFlags", strings(d["flags"])), begin, find)


def explicit_categories(flags, cats):
    """The categories Redis's setImplicitACLCategories would not add by itself."""
    implied = set()
    if "write" in flags:
        implied.add("write")
    if "readonly" in flags and "scripting" not in cats:
        implied.add("read")
    if "admin" in flags:
        implied |= {"admin", "dangerous"}
    if "pubsub" in flags:
        implied.add("pubsub")
    if "fast" in flags:
        implied.add("fast")
    if "blocking" in flags:
        implied.add("blocking")
    if "fast" not in cats:
        implied.add("slow")
    return [c for c in cats if c not in implied]


def emit_command(name, info, docs):
    (_, fields) = info
    flags = strings(fields[2])
    cats = [c.lstrip("@") for c in strings(fields[6])]
    tips = strings(fields[7])
    specs = fields[8][1]
    d = as_dict(docs)
    unknown = set(d) - DOC_FIELDS
    if unknown:
        sys.exit("%s: docs field(s) this script does not know: %s" % (name, unknown))
    out = ["    CommandDocs {"]
    out.append("        name: %s," % rs(name))
    out.append("        summary: %s," % rs(d["summary"][1]))
    out.append("        since: %s," % rs(d["since"][1]))
    out.append("        group: %s," % rs(d["group"][1]))
    out.append("        complexity: %s," % opt(d["complexity"][1] if "complexity" in d else None))
    out.append("        doc_flags: %s," % flag_set("DocFlags", strings(d["doc_flags"]) if "doc_flags" in d else []))
    out.append("        deprecated_since: %s," % opt(d["deprecated_since"][1] if "deprecated_since" in d else None))
    out.append("        replaced_by: %s," % opt(d["replaced_by"][1] if "replaced_by" in d else None))
    if "history" in d:
        out.append("        history: &[")
        for entry in d["history"][1]:
            version, change = strings(entry)
            out.append("            (%s, %s)," % (rs(version), rs(change)))
        out.append("        ],")
    else:
        out.append("        history: &[],")
    if "arguments" in d:
        out.append("        args: &[")
        out.extend(emit_args(d["arguments"], "            "))
        out.append("        ],")
    else:
        out.append("        args: &[],")
    out.append("        acl_categories: %s," % flag_set("AclCategories", explicit_categories(flags, cats)))
    out.append("        tips: &[%s]," % ", ".join(rs(t) for t in tips))
    if specs:
        out.append("        key_specs: &[")
        out.extend("            " + emit_key_spec(s) for s in specs)
        out.append("        ],")
    else:
        out.append("        key_specs: &[],")
    out.append("    },")
    return out


HEADER = """\
// @generated by tests/tools/gen_command_docs.py from redis-server {version}'s COMMAND INFO
// and COMMAND DOCS, for the commands and subcommands keel has. Do not edit by hand: add
// the command to keel's table, rebuild, and rerun the script (see its docstring).

//! Redis's documentation, ACL categories, tips and key specs for keel's commands.

use super::{{arg, ArgType as T, CommandDocs}};
use crate::commands::flags::{{flags, AclCategories, ArgFlags, DocFlags, KeySpecFlags}};
use crate::commands::keyspec::{{BeginSearch, FindKeys, KeySpec}};

/// Sorted by full name.
pub static REDIS_DOCS: &[CommandDocs] = &[
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--keel-port", type=int)
    ap.add_argument("--keel-bin", default=os.path.join(REPO, "target/debug/keel-server-under-test"))
    ap.add_argument("--out", default=os.path.join(REPO, "core/src/commands/docs/redis_docs.rs"))
    opts = ap.parse_args()

    started = []
    try:
        redis_port, keel_port = opts.redis_port, opts.keel_port
        if redis_port is None:
            redis_port = free_port()
            started.append(start(["redis-server", "--daemonize", "no"], redis_port))
        if keel_port is None:
            keel_port = free_port()
            started.append(start([opts.keel_bin], keel_port))
        redis, keel = Conn(redis_port), Conn(keel_port)

        version = next(
            line.split(":", 1)[1]
            for line in redis.call("INFO", "server")[1].splitlines()
            if line.startswith("redis_version:")
        )
        names = sorted(strings(keel.call("COMMAND", "LIST")))
        out = [HEADER.format(version=version)]
        for name in names:
            info = redis.call("COMMAND", "INFO", name)[1][0]
            if info[0] == "_":
                print("skipped (redis-server %s lacks it): %s" % (version, name), file=sys.stderr)
                continue
            docs = as_dict(redis.call("COMMAND", "DOCS", name))
            if name not in docs:
                sys.exit("%s: COMMAND INFO knows it, COMMAND DOCS does not" % name)
            out.append("\n".join(emit_command(name, info, docs[name])) + "\n")
        out.append("];\n")
    finally:
        for proc in started:
            proc.terminate()
            proc.wait()

    with open(opts.out, "w") as f:
        f.write("".join(out))
    print("wrote %s (%d commands)" % (opts.out, len(out) - 2), file=sys.stderr)


if __name__ == "__main__":
    main()
