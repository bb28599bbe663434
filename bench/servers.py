#!/usr/bin/env python3
"""Benchmark: phonecert's three servers side by side with the servers admins run.

Not a test (numbers depend on the machine and on what else runs on it): every benchmark
starts each server fresh inside network namespaces of its own, drives it with the load tool
admins use, on the same machine in the same run, and prints each server's median, spread and
its ratio to ours.

1. dhcp: 4-way exchanges (DISCOVER-OFFER-REQUEST-ACK) per second by perfdhcp, against
   `phonecert serve` (a scenario's infrastructure in its netns lab, capture and timeline
   included, answering any MAC), our DHCP server alone in its shell (bench-servers: no
   capture, no timeline), dnsmasq and Kea, all on serve's subnet with its pool (10.66.0.100–
   .199), the same lease time and option 242 forced into every reply. perfdhcp plays a relay
   agent (giaddr = its own address), so every server answers it at giaddr:67. A low-rate
   exchange per server is captured with tshark first and every OFFER and ACK in it must carry
   option 242.
2. http: MB/s of a 100 MB firmware image fetched by wrk from our file server and from nginx,
   over HTTP and HTTPS (ours with a certificate from pc-pki, nginx with a self-signed one made
   here with openssl; RSA 2048 for both).
3. sip: REGISTER+digest per second by SIPp (a scenario written here: REGISTER, 401, REGISTER
   with [authentication], 200) against our registrar and Kamailio (a minimal kamailio.cfg:
   pv_auth_check of the digest against one fixed password, save() to an in-memory usrloc).
4. overload: perfdhcp (several at once, from several addresses) at 10x serve's measured rate
   for a bounded time: before and after, the leases/s at half that rate; after, the rate must
   be back within 10 % of the rate before, and the server must still run and stop cleanly.

Usage (as root; builds nothing, give it release builds):
    cargo build --release -p bench-servers && cargo build --release
    python3 bench/servers.py --setup            # once: apt-get install the tools
    python3 bench/servers.py [--runs 3] [--only dhcp,http,sip,overload]
    # before/after: an earlier build side by side with this one in the http and sip runs
    python3 bench/servers.py --only http,sip --baseline-bin /tmp/bench-servers.before
"""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

PACKAGES = ["kea-admin", "kea-dhcp4-server", "dnsmasq-base", "nginx-light", "wrk", "openssl",
            "sip-tester", "kamailio", "tshark", "iproute2"]
# `phonecert serve`'s netns lab: 10.66.0.1/24, pool .100–.199. The other servers get the same.
DHCP_NET = "10.66.0"
POOL = (f"{DHCP_NET}.100", f"{DHCP_NET}.199")
LEASE = 3600
SITE = f"MCIPADD={DHCP_NET}.1,HTTPSRVR={DHCP_NET}.1,HTTPDIR=/,L2Q=0"
SECRET = "benchsecret"
USERS = 1000
# SIPp 3.6 takes the digest user and password from -au/-ap only ([authentication] does not
# read injection fields), so every registration is this one account, a new Call-ID each time.
USER = "user0001"
TAG = f"pcb{os.getpid():x}"

NAMESPACES = []
PROCS = []


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kw)


def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns, *argv]


def lab(name, net):
    """Two namespaces joined by a veth pair: <net>.0.1/24 for the server, <net>.0.2/24 for the
    load tool. Returns (server ns, client ns, server if, server ip, client ip)."""
    srv, cli = f"{TAG}-{name}-s", f"{TAG}-{name}-c"
    for ns in (srv, cli):
        sh("ip", "netns", "add", ns)
        NAMESPACES.append(ns)
        sh(*in_ns(ns, ["ip", "link", "set", "lo", "up"]))
    sh("ip", "link", "add", "bs0", "netns", srv, "type", "veth", "peer", "name", "bc0", "netns", cli)
    sip, cip = f"{net}.0.1", f"{net}.0.2"
    for ns, dev, ip in ((srv, "bs0", sip), (cli, "bc0", cip)):
        sh(*in_ns(ns, ["ip", "addr", "add", f"{ip}/24", "dev", dev]))
        sh(*in_ns(ns, ["ip", "link", "set", dev, "up"]))
    return srv, cli, "bs0", sip, cip


def cleanup():
    for p in reversed(PROCS):
        stop(p)
    for ns in reversed(NAMESPACES):
        # A process still inside keeps the namespace's veth alive: end them first.
        pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)
    NAMESPACES.clear()


def start(ns, argv, log):
    p = subprocess.Popen(in_ns(ns, argv), stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                         start_new_session=True)
    PROCS.append(p)
    return p


def stop(p, timeout=10):
    """SIGTERM to the process group we started, SIGKILL if it does not end. Returns the
    exit code (None if it had to be killed)."""
    killed = False
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            killed = True
        except ProcessLookupError:
            pass
    code = None if killed else p.returncode
    if p in PROCS:
        PROCS.remove(p)
    return code


def wait_ready(p, ns, proto, port, timeout=20):
    """Until something in `ns` listens on `port` (`proto` udp or tcp), or `p` died."""
    end = time.monotonic() + timeout
    flag = "-lun" if proto == "udp" else "-ltn"
    while time.monotonic() < end:
        if p.poll() is not None:
            raise RuntimeError(f"{' '.join(p.args[4:6])} exited with {p.returncode} before it was ready")
        out = sh(*in_ns(ns, ["ss", "-H", flag, f"sport = :{port}"]), check=False).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {proto}/{port} after {timeout} s")


def ours(ns, args, bench_bin, log):
    p = start(ns, [bench_bin, *args], log)
    line = p.stdout.readline()
    if not line.startswith("ready "):
        raise RuntimeError(f"bench-servers did not start: {line!r}, see {log}")
    return p


def spread(xs):
    med = statistics.median(xs)
    return med, min(xs), max(xs)


def table(title, unit, results, ours_name, higher_is_better=True):
    print(f"\n{title}")
    base = statistics.median(results[ours_name]) if results.get(ours_name) else None
    for name, xs in results.items():
        if not xs:
            print(f"  {name:<22} no result")
            continue
        med, lo, hi = spread(xs)
        pct = 100 * (hi - lo) / med if med else 0.0
        runs = " ".join(f"{x:.1f}" for x in xs)
        ratio = f"ours/{name} = {base / med:.2f}" if base and name != ours_name and med else ""
        print(f"  {name:<22} median {med:10.1f} {unit}  spread {lo:.1f}–{hi:.1f} (±{pct / 2:.0f}%)  "
              f"runs [{runs}]  {ratio}")


def cpu_seconds(ns):
    """CPU time (user + system, every thread) used so far by the processes in `ns`: with
    other builds on the machine a rate measures the scheduler as much as the server; work
    per CPU-second measures the server."""
    total = 0
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- DHCP

class Dhcp:
    """A running DHCP server and where its load goes: perfdhcp runs in `ns`, with addresses
    of its own on `iface` (it plays a relay agent and is answered at giaddr:67, one perfdhcp
    per address)."""

    def __init__(self, proc, ns, iface, server_ip, net):
        self.proc, self.ns, self.iface, self.server_ip, self.net = proc, ns, iface, server_ip, net
        self.clients = []

    def client(self, n):
        """The n-th load tool address (created on first use)."""
        while len(self.clients) <= n:
            ip = f"{self.net}.{50 + len(self.clients)}"
            sh(*in_ns(self.ns, ["ip", "addr", "add", f"{ip}/24", "dev", self.iface]))
            self.clients.append(ip)
        return self.clients[n]


def kea_config(iface, workdir):
    import json
    cfg = {"Dhcp4": {
        "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False, "lfc-interval": 0},
        "valid-lifetime": LEASE,
        "option-def": [{"name": "avaya-site", "code": 242, "type": "string", "space": "dhcp4"}],
        "subnet4": [{"id": 1, "subnet": f"{DHCP_NET}.0/24", "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": f"{DHCP_NET}.1"},
                                     {"name": "avaya-site", "data": SITE, "always-send": True}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stderr"}]}],
    }}
    path = os.path.join(workdir, "kea-dhcp4.json")
    json.dump(cfg, open(path, "w"), indent=1)
    return path


def dhcp_servers(a, workdir):
    """name -> function() starting that server fresh; each returns a Dhcp. `phonecert serve`
    makes its own lab; the others share one made here on the same subnet."""
    shared = {}

    def own_lab():
        if "lab" not in shared:
            srv, cli, iface, sip, _ = lab("dhcp", DHCP_NET.rsplit(".", 1)[0])
            shared["lab"] = (srv, cli, iface, sip)
        return shared["lab"]

    def in_own_lab(start_in):
        srv, cli, iface, sip = own_lab()
        d = Dhcp(start_in(srv, iface, sip), cli, "bc0", sip, DHCP_NET)
        d.clients = shared.setdefault("clients", [])
        return d

    def run_serve():
        log = os.path.join(workdir, "serve.log")
        p = subprocess.Popen([a.phonecert, "serve", a.serve_scenario, "--lab", "netns", "--any-mac",
                              "--out", os.path.join(workdir, "serve")],
                             stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, start_new_session=True)
        PROCS.append(p)
        import json
        for line in p.stdout:
            try:
                ready = json.loads(line)
            except ValueError:
                continue
            if ready.get("event") == "ready":
                break
        else:
            raise RuntimeError(f"phonecert serve did not start (exit {p.wait()}), see {log}")
        place = ready["netns"]
        # serve removes its namespaces when it stops; these are removed too if it cannot.
        NAMESPACES.extend([place["infra"], place["phone"]])
        if ready["pool"] != list(POOL) or ready["server_ip"] != f"{DHCP_NET}.1":
            raise RuntimeError(f"serve's lab is not the benchmark's subnet: {ready['server_ip']}, pool {ready['pool']}")
        return Dhcp(p, place["phone"], place["phone_iface"], ready["server_ip"], DHCP_NET)

    def run_core():
        return in_own_lab(lambda ns, iface, ip: ours(
            ns, ["dhcp", "--iface", iface, "--server-ip", ip, "--mask", "255.255.255.0", "--pool-start", POOL[0],
                 "--pool-end", POOL[1], "--lease", str(LEASE), "--site-string", SITE],
            a.bench_bin, os.path.join(workdir, "ours-dhcp.log")))

    def run_dnsmasq():
        # No DNS (port 0), leases in memory only (as ours and Kea's memfile without persist),
        # no ping before an offer (ours and Kea do not), the site option forced into every
        # reply whatever option 55 asks.
        def go(ns, iface, ip):
            p = start(ns, ["dnsmasq", "--keep-in-foreground", "--no-daemon", "--port=0", f"--interface={iface}",
                           "--bind-interfaces", "--no-ping", "--leasefile-ro", "--dhcp-authoritative",
                           f"--dhcp-range={POOL[0]},{POOL[1]},255.255.255.0,{LEASE}", f"--dhcp-option=3,{ip}",
                           f'--dhcp-option-force=242,"{SITE}"', f"--pid-file={workdir}/dnsmasq.pid",
                           "--log-facility=-", "--quiet-dhcp"],
                      os.path.join(workdir, "dnsmasq.log"))
            wait_ready(p, ns, "udp", 67)
            return p
        return in_own_lab(go)

    def run_kea():
        def go(ns, iface, ip):
            cfg = kea_config(iface, workdir)
            env_dir = os.path.join(workdir, "kea-run")
            os.makedirs(env_dir, exist_ok=True)
            p = start(ns, ["env", f"KEA_PIDFILE_DIR={env_dir}", f"KEA_LOCKFILE_DIR={env_dir}",
                           "kea-dhcp4", "-c", cfg], os.path.join(workdir, "kea.log"))
            wait_ready(p, ns, "udp", 67)
            return p
        return in_own_lab(go)

    return {"phonecert serve": run_serve, "phonecert dhcp alone": run_core,
            "dnsmasq": run_dnsmasq, "kea": run_kea}


def perfdhcp(d, rate, seconds, clients, seed=1, n=0):
    """One bounded perfdhcp run from the n-th load address; returns (4-way exchanges completed
    per second, DISCOVERs sent per second)."""
    return parse_perfdhcp(run_perfdhcp(d, rate, seconds, clients, seed, n).communicate()[0], seconds)


def run_perfdhcp(d, rate, seconds, clients, seed, n):
    # perfdhcp draws its clients' MACs around a base: a different base per load address
    # keeps parallel generators apart.
    base = f"mac=02:{n:02x}:00:00:00:00"
    p = subprocess.Popen(in_ns(d.ns, ["timeout", str(seconds + 15), "perfdhcp", "-4", "-l", d.client(n),
                                      "-b", base, "-r", str(rate), "-R", str(clients), "-p", str(seconds),
                                      "-s", str(seed), d.server_ip]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p


def parse_perfdhcp(out, seconds):
    stats = {}
    section = None
    for line in out.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            section = m.group(1)
        m = re.match(r"(sent|received) packets: (\d+)", line)
        if m and section:
            stats[(section, m.group(1))] = int(m.group(2))
    acks = stats.get(("REQUEST-ACK", "received"))
    sent = stats.get(("DISCOVER-OFFER", "sent"))
    if acks is None or sent is None:
        raise RuntimeError(f"perfdhcp gave no statistics: {out[-600:]}")
    return acks / seconds, sent / seconds


def flood(d, rate, seconds, clients, generators, seed):
    """`generators` perfdhcp at once, `rate` split between them; returns the total leases/s
    and DISCOVERs/s actually sent."""
    procs = [run_perfdhcp(d, max(rate // generators, 1), seconds, max(clients // generators, 1), seed + i, i)
             for i in range(generators)]
    results = [parse_perfdhcp(p.communicate()[0], seconds) for p in procs]
    return sum(r[0] for r in results), sum(r[1] for r in results)


def check_option_242(name, d, workdir):
    """Capture a low-rate exchange and return (replies seen, replies without option 242)."""
    pcap = os.path.join(workdir, f"{name.replace(' ', '-')}-sample.pcapng")
    cap = subprocess.Popen(in_ns(d.ns, ["tshark", "-q", "-i", d.iface, "-f", "udp port 67 or udp port 68",
                                        "-a", "duration:12", "-w", pcap]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    PROCS.append(cap)
    # tshark says "Capturing on" once the capture runs.
    end = time.monotonic() + 10
    while time.monotonic() < end and "Capturing on" not in cap.stderr.readline():
        pass
    perfdhcp(d, 50, 2, 50)
    stop(cap)
    r = sh("tshark", "-r", pcap, "-Y", "dhcp.option.dhcp == 2 || dhcp.option.dhcp == 5",
           "-T", "fields", "-e", "dhcp.option.type", check=False)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    missing = [l for l in lines if "242" not in l.split(",")]
    return len(lines), len(missing)


def stop_dhcp(d, timeout=30):
    """Stops the server. serve writes its run folder first, which after tens of thousands of
    exchanges takes minutes and gigabytes; past `timeout` it is killed (code None): what is
    measured here is the serving, not the report."""
    code = stop(d.proc, timeout=timeout)
    # serve's own namespaces go with it; forget them once they are gone.
    NAMESPACES[:] = [n for n in NAMESPACES if os.path.exists(f"/run/netns/{n}")]
    return code


def bench_dhcp(a, workdir):
    servers = dhcp_servers(a, workdir)
    results = {name: [] for name in servers}
    for name, run in servers.items():
        d = run()
        seen, missing = check_option_242(name, d, workdir)
        stop_dhcp(d)
        print(f"  {name}: option 242 in {seen - missing} of {seen} OFFER/ACK captured"
              + ("" if seen and not missing else "  <-- NOT IN EVERY REPLY"))
    for i in range(a.runs):
        for name, run in servers.items():
            d = run()
            rate, offered = perfdhcp(d, a.dhcp_rate, a.dhcp_seconds, a.dhcp_clients, seed=i + 1)
            alive = d.proc.poll() is None
            t = time.monotonic()
            code = stop_dhcp(d)
            results[name].append(rate)
            print(f"  run {i + 1} {name}: {rate:.0f} leases/s (offered {offered:.0f} DISCOVER/s)"
                  + ("" if alive else "  <-- SERVER DIED")
                  + (f"; not stopped {time.monotonic() - t:.0f} s after SIGTERM, killed" if code is None else ""))
    title = (f"DHCP 4-way exchanges per second (perfdhcp -r {a.dhcp_rate} -R {a.dhcp_clients} -p {a.dhcp_seconds}; "
             f"pool {POOL[0]}–{POOL[1]})")
    table(title, "leases/s", results, "phonecert serve")
    table("", "leases/s", {k: v for k, v in results.items() if k != "phonecert serve"}, "phonecert dhcp alone")
    cleanup()
    return statistics.median(results["phonecert serve"])


def bench_overload(a, workdir, capacity):
    d = dhcp_servers(a, workdir)["phonecert serve"]()
    normal = max(int(capacity * 0.5), 10)
    asked = int(capacity * 10)

    def rss():
        return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{d.proc.pid}/status").read()).group(1))

    before, _ = perfdhcp(d, normal, 5, a.dhcp_clients, seed=11)
    rss0 = rss()
    during, sent = flood(d, asked, a.overload_seconds, a.dhcp_clients, a.flood_generators, seed=20)
    alive_during = d.proc.poll() is None
    rss1 = rss() if alive_during else 0
    after = [perfdhcp(d, normal, 5, a.dhcp_clients, seed=13 + i)[0] for i in range(3)]
    alive = d.proc.poll() is None
    rss2 = rss() if alive else 0
    code = stop_dhcp(d)
    cleanup()
    recovered = statistics.median(after) >= 0.9 * before
    print(f"\nDHCP overload (phonecert serve; capacity {capacity:.0f} leases/s from the dhcp benchmark)")
    print(f"  before:  {before:.0f} leases/s at {normal}/s offered")
    print(f"  flood:   {during:.0f} leases/s while {a.flood_generators} perfdhcp sent {sent:.0f} DISCOVER/s "
          f"({sent / capacity:.1f}x capacity; asked {asked}/s = 10x) for {a.overload_seconds} s")
    print(f"  after:   {' '.join(f'{x:.0f}' for x in after)} leases/s at {normal}/s offered "
          f"(median {statistics.median(after) / before:.2f} of before)")
    print(f"  server:  {'alive' if alive_during and alive else 'DIED'} throughout, "
          f"RSS {rss0} kB before, {rss1} kB after the flood, {rss2} kB at the end; "
          + (f"exit {code} on SIGTERM (after writing its report)" if code is not None
             else "still writing its report 30 s after SIGTERM, killed"))
    ok = recovered and alive_during and alive
    print(f"  verdict: {'sheds load and recovers' if ok else 'DID NOT RECOVER'}")
    return ok


# ---------------------------------------------------------------- HTTP

NGINX_CONF = """
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-tmp;
    proxy_temp_path {work}/nginx-tmp;
    fastcgi_temp_path {work}/nginx-tmp;
    uwsgi_temp_path {work}/nginx-tmp;
    scgi_temp_path {work}/nginx-tmp;
    server {{
        listen {ip}:80;
        listen {ip}:443 ssl;
        ssl_certificate {work}/nginx.crt;
        ssl_certificate_key {work}/nginx.key;
        root {root};
    }}
}}
"""


def wrk(cli, url, seconds, conns):
    """MB/s (10^6 bytes) wrk measured, bounded by time."""
    r = sh(*in_ns(cli, ["timeout", str(seconds + 30), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
                        "--timeout", "30s", url]), check=False)
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", r.stdout)
    reqs = re.search(r"(\d+) requests in", r.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", r.stdout)
    if errors and errors.group(1):
        raise RuntimeError(f"{url}: {errors.group(0)}")
    if not m:
        raise RuntimeError(f"wrk gave no transfer rate (exit {r.returncode}): {r.stdout[-400:]} {r.stderr[-400:]}")
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)]
    return float(m.group(1)) * scale / 1e6, int(reqs.group(1)) if reqs else 0, errors.group(0) if errors else ""


def bench_http(a, workdir):
    root = os.path.join(workdir, "www")
    os.makedirs(root, exist_ok=True)
    os.makedirs(os.path.join(workdir, "nginx-tmp"), exist_ok=True)
    image = os.path.join(root, "firmware.bin")
    with open(image, "wb") as f:
        f.write(os.urandom(100 * 1000 * 1000))
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=10.43.0.1",
       "-keyout", os.path.join(workdir, "nginx.key"), "-out", os.path.join(workdir, "nginx.crt"))
    conf = os.path.join(workdir, "nginx.conf")
    srv, cli, iface, sip, cip = lab("http", "10.43")
    open(conf, "w").write(NGINX_CONF.format(work=workdir, ip=sip, root=root))
    ours_bins = {"phonecert": a.bench_bin}
    if a.baseline_bin:
        ours_bins["baseline"] = a.baseline_bin
    names = [*ours_bins, "nginx"]
    results = {f"{n} {scheme}": [] for scheme in ("http", "https") for n in names}
    per_cpu = {k: [] for k in results}
    for i in range(a.runs):
        for name in names:
            if name in ours_bins:
                p = ours(srv, ["http", "--listen", f"{sip}:80", "--tls-listen", f"{sip}:443", "--file", image],
                         ours_bins[name], os.path.join(workdir, f"{name}-http.log"))
            else:
                p = start(srv, ["nginx", "-c", conf], os.path.join(workdir, "nginx.log"))
                wait_ready(p, srv, "tcp", 443)
            for scheme in ("http", "https"):
                cpu0 = cpu_seconds(srv)
                mbs, n, err = wrk(cli, f"{scheme}://{sip}/firmware.bin", a.http_seconds, a.http_conns)
                cpu = cpu_seconds(srv) - cpu0
                results[f"{name} {scheme}"].append(mbs)
                if cpu > 0:
                    per_cpu[f"{name} {scheme}"].append(mbs * a.http_seconds / cpu)
                print(f"  run {i + 1} {name} {scheme}: {mbs:.0f} MB/s ({n} images; server CPU {cpu:.2f} s) {err}")
            stop(p)
    cleanup()
    load = os.getloadavg()
    for scheme in ("http", "https"):
        title = (f"Firmware download, 100 MB image, MB/s (wrk -t1 -c{a.http_conns} -d{a.http_seconds}s; "
                 f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})") if scheme == "http" else ""
        table(title, "MB/s", {f"{n} {scheme}": results[f"{n} {scheme}"] for n in names}, f"phonecert {scheme}")
        table("  per CPU-second of the server", "MB/cpu-s",
              {f"{n} {scheme}": per_cpu[f"{n} {scheme}"] for n in names}, f"phonecert {scheme}")


# ---------------------------------------------------------------- SIP

SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with digest">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:lab.test SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[service]@lab.test>;tag=[pid]-[call_number]
      To: <sip:[service]@lab.test>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:lab.test SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[service]@lab.test>;tag=[pid]-[call_number]
      To: <sip:[service]@lab.test>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port]>
      [authentication]
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

KAMAILIO_CFG = """#!KAMAILIO
# A registrar and nothing else: every REGISTER is challenged (digest, qop=auth), the answer
# is checked against one fixed password with pv_auth_check (no database), and the binding is
# saved in memory (usrloc db_mode 0). Anything else is refused with 405.
debug=0
log_stderror=yes
children={children}
listen=udp:{ip}:5060
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_expire", 3600)
request_route {{
    if ($rm != "REGISTER") {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if (!pv_auth_check("$fd", "{secret}", "0", "1")) {{
        auth_challenge("$fd", "1");
        exit;
    }}
    if (!save("location")) {{
        sl_reply_error();
    }}
    exit;
}}
"""


def sipp(cli, cip, sip, workdir, calls, limit, rate):
    """One bounded SIPp run of `calls` registrations; returns (REGISTER+digest per second,
    successful, failed)."""
    stat = os.path.join(workdir, f"sipp-{time.monotonic_ns()}.csv")
    r = sh(*in_ns(cli, ["timeout", "120", "sipp", "-sf", os.path.join(workdir, "register.xml"),
                        "-s", USER, "-au", USER, "-ap", SECRET, "-i", cip, "-p", "5070",
                        "-m", str(calls), "-l", str(limit), "-r", str(rate), "-timeout", "90s",
                        "-max_recv_loops", "10000", "-trace_stat", "-stf", stat, "-fd", "60",
                        "-nostdin", f"{sip}:5060"]), check=False, stdin=subprocess.DEVNULL)
    if not os.path.exists(stat):
        raise RuntimeError(f"sipp wrote no statistics (exit {r.returncode}): {r.stderr[-400:]}")
    rows = [l.rstrip(";\n").split(";") for l in open(stat) if l.strip()]
    head, last = rows[0], rows[-1]
    col = lambda name: last[head.index(name)]
    ok, failed = int(col("SuccessfulCall(C)")), int(col("FailedCall(C)"))
    # "2026-11-30<TAB>16:32:21.666561<TAB>1796056341.666561": the epoch seconds are exact, the
    # ElapsedTime columns are whole seconds.
    elapsed = float(col("CurrentTime").split()[-1]) - float(col("StartTime").split()[-1])
    return ok / elapsed, ok, failed


def bench_sip(a, workdir):
    open(os.path.join(workdir, "register.xml"), "w").write(SIPP_SCENARIO)
    srv, cli, iface, sip, cip = lab("sip", "10.44")
    cfg = os.path.join(workdir, "kamailio.cfg")
    open(cfg, "w").write(KAMAILIO_CFG.format(ip=sip, secret=SECRET, children=a.kamailio_children))
    ours_bins = {"phonecert": a.bench_bin}
    if a.baseline_bin:
        ours_bins["baseline"] = a.baseline_bin
    results = {name: [] for name in (*ours_bins, "kamailio")}
    per_cpu = {name: [] for name in results}
    for i in range(a.runs):
        for name in results:
            if name in ours_bins:
                p = ours(srv, ["sip", "--listen", f"{sip}:5060", "--users", str(USERS), "--password", SECRET],
                         ours_bins[name], os.path.join(workdir, f"{name}-sip.log"))
            else:
                p = start(srv, ["kamailio", "-DD", "-E", "-f", cfg, "-P", os.path.join(workdir, "kamailio.pid"),
                                "-m", "256", "-M", "16"], os.path.join(workdir, "kamailio.log"))
                wait_ready(p, srv, "udp", 5060)
            cpu0 = cpu_seconds(srv)
            rate, ok, failed = sipp(cli, cip, sip, workdir, a.sip_calls, a.sip_limit, a.sip_rate)
            cpu = cpu_seconds(srv) - cpu0
            stop(p)
            results[name].append(rate)
            if cpu > 0:
                per_cpu[name].append(ok / cpu)
            print(f"  run {i + 1} {name}: {rate:.0f} REGISTER+digest/s ({ok} registered, {failed} failed; "
                  f"server CPU {cpu:.2f} s)")
    cleanup()
    load = os.getloadavg()
    table(f"REGISTER with digest per second (SIPp, {a.sip_calls} registrations of {USER}, "
          f"{a.sip_limit} at once; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})",
          "reg/s", results, "phonecert")
    table("  per CPU-second of the server", "reg/cpu-s", per_cpu, "phonecert")


def setup():
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], check=True, env=env)
    # The packages' own services are not what is measured; the benchmark starts its own copies.
    for svc in ("nginx", "kamailio", "kea-dhcp4-server"):
        subprocess.run(["systemctl", "disable", "--now", svc], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="apt-get install the tools and servers, then exit")
    ap.add_argument("--bench-bin", default="target/release/bench-servers")
    ap.add_argument("--baseline-bin", help="another bench-servers build (an earlier commit's) measured in the "
                    "same http and sip runs, as 'baseline'")
    ap.add_argument("--only", default="dhcp,http,sip,overload")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dhcp-rate", type=int, default=20000, help="DISCOVERs per second perfdhcp offers")
    ap.add_argument("--dhcp-seconds", type=int, default=10)
    ap.add_argument("--dhcp-clients", type=int, default=100, help="perfdhcp -R: the pool's size by default")
    ap.add_argument("--flood-generators", type=int, default=4, help="perfdhcp processes sharing the flood")
    ap.add_argument("--phonecert", default="target/release/phonecert")
    ap.add_argument("--serve-scenario", default="scenarios/option242/httpsrvr.toml",
                    help="the scenario phonecert serve takes its DHCP server from")
    ap.add_argument("--overload-seconds", type=int, default=20)
    ap.add_argument("--http-seconds", type=int, default=10)
    ap.add_argument("--http-conns", type=int, default=4)
    ap.add_argument("--sip-calls", type=int, default=30000)
    ap.add_argument("--sip-limit", type=int, default=200, help="registrations in progress at once")
    ap.add_argument("--sip-rate", type=int, default=20000, help="new registrations per second at most")
    ap.add_argument("--kamailio-children", type=int, default=2)
    a = ap.parse_args()
    if a.setup:
        return setup()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates network namespaces")
    if not os.access(a.bench_bin, os.X_OK):
        sys.exit(f"no {a.bench_bin}: cargo build --release -p bench-servers")
    a.bench_bin = os.path.abspath(a.bench_bin)
    if a.baseline_bin:
        a.baseline_bin = os.path.abspath(a.baseline_bin)
    a.phonecert = os.path.abspath(a.phonecert)
    a.serve_scenario = os.path.abspath(a.serve_scenario)
    only = set(a.only.split(","))
    # SIGTERM / SIGHUP end the run like Ctrl-C does, through the `finally` below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    workdir = tempfile.mkdtemp(prefix="phonecert-servers-bench-")
    # nginx's workers run as an unprivileged user and must read the image below it.
    os.chmod(workdir, 0o755)
    print(f"work folder {workdir} (logs, configurations, captures)")
    recovered = True
    try:
        capacity = None
        if "dhcp" in only:
            capacity = bench_dhcp(a, workdir)
        if "overload" in only:
            if capacity is None:
                d = dhcp_servers(a, workdir)["phonecert serve"]()
                capacity, _ = perfdhcp(d, a.dhcp_rate, a.dhcp_seconds, a.dhcp_clients)
                stop_dhcp(d)
                cleanup()
            recovered = bench_overload(a, workdir, capacity)
        if "http" in only:
            bench_http(a, workdir)
        if "sip" in only:
            bench_sip(a, workdir)
    finally:
        cleanup()
        image = os.path.join(workdir, "www", "firmware.bin")
        if os.path.exists(image):
            os.remove(image)
    return 0 if recovered else 1


if __name__ == "__main__":
    sys.exit(main())
