#!/usr/bin/env python3
"""The seed's "100k concurrent connections": holds N idle loopback connections to one
server at a time (keel, then redis-server 7.0, each with `maxclients 100000`), from
several 127.x source addresses so no source runs out of ephemeral ports, and reports
how many it held, the server's memory per idle connection (RSS and INFO used_memory
before and after) and PING latency percentiles over one more connection while they
are held.

    bench/connections.py [--count 100000] [--workers 8] [--pings 5000]
                         [--keel-bin PATH] [--only keel|redis]

Each worker process raises its own RLIMIT_NOFILE to its hard limit and opens its share
(a process cannot hold more descriptors than that); the servers raise theirs at startup
(Redis's adjustOpenFilesLimit, which keel copies) and lower maxclients, with a log line,
when the OS refuses. The held count is the server's `connected_clients`, so a limit
anywhere shows up as a smaller number, and the reason is printed (the server's log
line, or the connect error a worker met). Uses only the standard library.
"""

import argparse
import multiprocessing as mp
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A port below the ephemeral range: the held connections' own ports come from
    that range, and a server port among them collides with one of them."""
    import random
    for _ in range(1000):
        port = random.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below 32000")


def call(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return read_reply(sock)


def read_reply(sock):
    buf = b""
    while b"\r\n" not in buf:
        buf += sock.recv(65536)
    head, rest = buf.split(b"\r\n", 1)
    if head[:1] == b"$":
        n = int(head[1:])
        while len(rest) < n + 2:
            rest += sock.recv(65536)
        return rest[:n]
    return head


def info_field(sock, section, field):
    text = call(sock, "INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return None


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def hard_limit_ceiling(wanted):
    """Why no process here can hold `wanted` descriptors, or None. Raising the hard
    RLIMIT_NOFILE (what Redis's adjustOpenFilesLimit and keel do at startup) needs
    CAP_SYS_RESOURCE, root or not; without it the hard limit is a ceiling."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard >= wanted:
        return None
    cap_eff = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                cap_eff = int(line.split()[1], 16)
    cap_sys_resource = 24
    nr_open = int(open("/proc/sys/fs/nr_open").read())
    if cap_eff & (1 << cap_sys_resource):
        if nr_open < wanted:
            return f"fs.nr_open is {nr_open}, under the {wanted} descriptors wanted"
        return None
    return (f"the hard RLIMIT_NOFILE is {hard} (fs.nr_open {nr_open}) and this process "
            f"(uid {os.getuid()}) lacks CAP_SYS_RESOURCE (CapEff {cap_eff:#x}), so "
            f"setrlimit above {hard} fails with EPERM here, for the servers as for "
            f"this script: each server holds at most {hard} descriptors, not {wanted}")


def worker(port, source_ip, count, ready, release, result):
    """Opens `count` connections from `source_ip`, reports, holds them until released."""
    limit = raise_nofile()
    socks = []
    error = None
    for _ in range(count):
        s = socket.socket()
        try:
            s.bind((source_ip, 0))
            s.connect(("127.0.0.1", port))
        except OSError as e:
            error = f"{source_ip}: {e} after {len(socks)} (fd limit {limit})"
            s.close()
            break
        socks.append(s)
    result.put((len(socks), error))
    ready.set()
    release.wait()
    for s in socks:
        s.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def ping_latencies_us(s, n):
    if True:
        out = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                buf += s.recv(64)
            out.append((time.perf_counter_ns() - t0) / 1000.0)
    out.sort()
    return out


def run(name, argv, args):
    port = free_port()
    work = tempfile.mkdtemp(prefix=f"keel-conns-{name}-")
    log_path = os.path.join(work, "server.log")
    cmd = argv + ["--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--save", "", "--appendonly", "no",
                  "--maxclients", "100000", "--dir", work, "--logfile", log_path]
    if name == "redis":
        cmd += ["--daemonize", "no"]
    server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(3000):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.01)
        # Both measuring connections are opened first: at maxclients no more come in.
        admin = socket.create_connection(("127.0.0.1", port))
        pinger = socket.create_connection(("127.0.0.1", port))
        pinger.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        maxclients = int(info_field(admin, "clients", "maxclients"))
        count = min(args.count, maxclients - 2)
        rss0 = rss_bytes(server.pid)
        used0 = int(info_field(admin, "memory", "used_memory"))
        base_p = ping_latencies_us(pinger, args.pings)

        per = [count // args.workers] * args.workers
        per[0] += count - sum(per)
        ready = [mp.Event() for _ in per]
        release = mp.Event()
        results = mp.Queue()
        procs = []
        t0 = time.time()
        for i, n in enumerate(per):
            src = f"127.0.{1 + i // 250}.{2 + i % 250}"
            p = mp.Process(target=worker, args=(port, src, n, ready[i], release, results), daemon=True)
            p.start()
            procs.append(p)
        for e in ready:
            e.wait()
        opened, errors = 0, []
        for _ in per:
            n, err = results.get()
            opened += n
            if err:
                errors.append(err)
        open_secs = time.time() - t0
        time.sleep(1.0)
        held = int(info_field(admin, "clients", "connected_clients")) - 2
        rss1 = rss_bytes(server.pid)
        used1 = int(info_field(admin, "memory", "used_memory"))
        lat = ping_latencies_us(pinger, args.pings)
        release.set()
        for p in procs:
            p.join()
        admin.close()
        pinger.close()
        with open(log_path) as f:
            limit_lines = [l.strip() for l in f if "maxclients" in l or "open files" in l]
        per_conn_rss = (rss1 - rss0) / held if held else float("nan")
        per_conn_used = (used1 - used0) / held if held else float("nan")
        print(f"== {name}: asked {args.count}; the server's maxclients is {maxclients}, so "
              f"{count} were opened ({opened} connected in {open_secs:.1f} s); it holds {held}")
        for l in limit_lines:
            print(f"   server log: {l}")
        for e in errors[:5]:
            print(f"   connect error: {e}")
        print(f"   RSS {rss0 / 1e6:.1f} MB -> {rss1 / 1e6:.1f} MB: {per_conn_rss:.0f} B per idle connection")
        print(f"   used_memory {used0 / 1e6:.1f} MB -> {used1 / 1e6:.1f} MB: {per_conn_used:.0f} B per idle connection")
        print(f"   PING over {args.pings} sequential round trips, idle server: "
              f"p50 {percentile(base_p, 50):.0f} us, p99 {percentile(base_p, 99):.0f} us")
        print(f"   PING while {held} are held:                        "
              f"p50 {percentile(lat, 50):.0f} us, p99 {percentile(lat, 99):.0f} us, "
              f"max {lat[-1]:.0f} us")
        sys.stdout.flush()
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--pings", type=int, default=5000)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--keel-bin", default=os.path.join(target, "release", "keel-server"))
    ap.add_argument("--only", choices=["keel", "redis"])
    args = ap.parse_args()
    print(f"this process: RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)}, "
          f"ip_local_port_range {open('/proc/sys/net/ipv4/ip_local_port_range').read().split()}")
    why = hard_limit_ceiling(args.count + 32)
    if why:
        print(f"note: {why}")
    if args.only in (None, "keel"):
        run("keel", [args.keel_bin], args)
    if args.only in (None, "redis"):
        run("redis", ["redis-server"], args)


if __name__ == "__main__":
    main()
