#!/usr/bin/env python3
"""The hardening issue's resource figures, for any servers side by side.

    bench/hardening.py NAME=/path/to/server [NAME=/path/to/server ...]

Each server is started fresh per case on a free port (redis-server's command line),
and each case prints one line per server:

  obuf-normal   1000 pipelined GET of a 1 MB value, never read, with
                client-output-buffer-limit normal 64mb 32mb 60: peak RSS rise
  obuf-pubsub   a RESP3 subscriber pipelining 1500 such GETs on the default config
  idle-conns    SET throughput (redis-benchmark -c 50 -P 16) with 9,900 idle
                connections open and maxmemory 50mb
  qbuf-idle     5 idle clients that each sent a 200 MB SET: RSS, and whether a write
                under maxmemory 1200mb is refused
  getrange      50 pipelined GETRANGE big 0 0 on a 200 MB string: wall time
  lcs           LCS of two 20 MB strings (refused): wall time and peak RSS rise
  big-get       10 pipelined GET of a 100 MB value, read as fast as possible: server
                CPU seconds

Nothing is asserted: it prints figures. Needs redis-benchmark on PATH.
"""

import os
import resource
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, extra=()):
        self.port = free_port()
        args = [binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--maxclients", "20000"] + list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{binary} did not start")

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        return 0

    def cpu_secs(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def conn(self):
        return socket.create_connection(("127.0.0.1", self.port))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def call(sock, *args):
    sock.sendall(encode(*args))
    return read_reply(sock)


def read_reply(sock):
    buf = b""
    while b"\r\n" not in buf:
        buf += sock.recv(65536)
    head, rest = buf.split(b"\r\n", 1)
    if head[:1] == b"$" and int(head[1:]) >= 0:
        need = int(head[1:]) + 2
        while len(rest) < need:
            rest += sock.recv(1 << 20)
    return head


def read_bytes(sock, total):
    got = 0
    while got < total:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    return got


def gone(control, name):
    control.sendall(encode("CLIENT", "LIST"))
    time.sleep(0.05)
    data = control.recv(1 << 20)
    return f"name={name} ".encode() not in data


def hog_case(binary, extra, prelude, count):
    srv = Server(binary, extra)
    c = srv.conn()
    call(c, "SET", "big", b"x" * (1 << 20))
    before = srv.status("VmRSS")
    hog = srv.conn()
    call(hog, "CLIENT", "SETNAME", "hog")
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.sendall(prelude + b"GET big\r\n" * count)
    deadline = time.time() + 60
    while not gone(c, "hog") and time.time() < deadline:
        time.sleep(0.2)
    peak = srv.status("VmHWM")
    closed = gone(c, "hog")
    srv.stop()
    return f"peak RSS rise {(peak - before) >> 20} MB, hog disconnected: {closed}"


def obuf_normal(binary):
    return hog_case(binary, ["--client-output-buffer-limit", "normal 64mb 32mb 60"], b"", 1000)


def obuf_pubsub(binary):
    return hog_case(binary, [], b"HELLO 3\r\nSUBSCRIBE ch\r\n", 1500)


def idle_conns(binary):
    srv = Server(binary, ["--maxmemory", "50mb"])
    idle = [srv.conn() for _ in range(9900)]
    call(idle[0], "PING")
    out = subprocess.run(
        ["redis-benchmark", "-p", str(srv.port), "-t", "set", "-c", "50", "-P", "16",
         "-n", "500000", "-q"], capture_output=True, text=True, timeout=600).stdout
    rps = out.strip().splitlines()[-1] if out.strip() else "?"
    for s in idle:
        s.close()
    srv.stop()
    return rps.split("\r")[-1].strip()


def qbuf_idle(binary):
    srv = Server(binary, [])
    value = b"v" * (200 << 20)
    clients = []
    for i in range(5):
        s = srv.conn()
        call(s, "SET", f"k{i}", value)
        clients.append(s)
    time.sleep(4)  # idle long enough for a cron pass
    rss = srv.status("VmRSS")
    c = srv.conn()
    call(c, "CONFIG", "SET", "maxmemory", "1200mb")
    reply = call(c, "SET", "small", "1")
    srv.stop()
    return f"RSS {rss >> 20} MB with 1000 MB of values; SET under maxmemory 1200mb: {reply.decode()}"


def getrange(binary):
    srv = Server(binary, [])
    c = srv.conn()
    call(c, "SET", "big", b"x" * (200 << 20))
    t0 = time.time()
    c.sendall(b"GETRANGE big 0 0\r\n" * 50)
    read_bytes(c, 50 * len(b"$1\r\nx\r\n"))
    took = time.time() - t0
    srv.stop()
    return f"{took * 1000:.0f} ms"


def lcs(binary):
    srv = Server(binary, [])
    c = srv.conn()
    call(c, "SET", "a", b"x" * (20 << 20))
    call(c, "SET", "b", b"y" * (20 << 20))
    before = srv.status("VmRSS")
    t0 = time.time()
    reply = call(c, "LCS", "a", "b")
    took = time.time() - t0
    peak = srv.status("VmHWM")
    srv.stop()
    return f"{took * 1000:.0f} ms, peak RSS rise {(peak - before) >> 20} MB: {reply.decode()[:40]}"


def big_get(binary):
    srv = Server(binary, [])
    c = srv.conn()
    size = 100 << 20
    call(c, "SET", "big", b"x" * size)
    cpu0 = srv.cpu_secs()
    c.sendall(b"GET big\r\n" * 10)
    read_bytes(c, 10 * (size + len(b"$104857600\r\n\r\n")))
    cpu = srv.cpu_secs() - cpu0
    srv.stop()
    return f"{cpu:.2f} s CPU"


CASES = [obuf_normal, obuf_pubsub, idle_conns, qbuf_idle, getrange, lcs, big_get]


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 30000), hard))
    servers = [a.split("=", 1) for a in sys.argv[1:]]
    if not servers:
        print(__doc__)
        sys.exit(2)
    only = os.environ.get("CASES", "").split()
    for case in CASES:
        if only and case.__name__ not in only:
            continue
        for name, binary in servers:
            print(f"{case.__name__:12} {name:8} {case(binary)}", flush=True)


if __name__ == "__main__":
    main()
