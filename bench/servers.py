#!/usr/bin/env python3
"""Benchmark: phonecert's three servers side by side with the servers admins run.

Not a test (numbers depend on the machine and on what else runs on it): every benchmark
starts each server fresh inside network namespaces of its own, drives it with the load tool
admins use, on the same machine in the same run, and prints each server's median, spread and
its ratio to ours.

1. dhcp: 4-way exchanges (DISCOVER-OFFER-REQUEST-ACK) per second by perfdhcp, against our DHCP
   server, dnsmasq and Kea, all with the same pool (10.42.1.0–10.42.255.254), lease time and
   option 242 forced into every reply. perfdhcp plays a relay agent (giaddr = its own
   address), so every server answers it at giaddr:67. A low-rate exchange per server is
   captured with tshark first and every OFFER and ACK in it must carry option 242.
2. http: MB/s of a 100 MB firmware image fetched by wrk from our file server and from nginx,
   over HTTP and HTTPS (ours with a certificate from pc-pki, nginx with a self-signed one made
   here with openssl; RSA 2048 for both).
3. sip: REGISTER+digest per second by SIPp (a scenario written here: REGISTER, 401, REGISTER
   with [authentication], 200) against our registrar and Kamailio (a minimal kamailio.cfg:
   pv_auth_check of the digest against one fixed password, save() to an in-memory usrloc).
4. overload: perfdhcp at 10x our DHCP server's measured rate for a bounded time: before,
   during and after, the leases/s; after, the rate must be back to the rate before, and the
   server must still run and stop cleanly.

Usage (as root; builds nothing, give it a release build of the bench-servers example):
    cargo build --release -p bench-servers
    python3 bench/servers.py --setup            # once: apt-get install the tools
    python3 bench/servers.py [--runs 3] [--only dhcp,http,sip,overload]
"""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

PACKAGES = ["kea-admin", "kea-dhcp4-server", "dnsmasq-base", "nginx-light", "wrk", "openssl",
            "sip-tester", "kamailio", "tshark", "iproute2"]
SITE = "MCIPADD=10.42.0.1,HTTPSRVR=10.42.0.1,HTTPDIR=/,L2Q=0"
POOL = ("10.42.1.0", "10.42.255.254")
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
    """Two namespaces joined by a veth pair: <net>.0.1/16 for the server, <net>.0.2/16 for the
    load tool. Returns (server ns, client ns, server if, server ip, client ip)."""
    srv, cli = f"{TAG}-{name}-s", f"{TAG}-{name}-c"
    for ns in (srv, cli):
        sh("ip", "netns", "add", ns)
        NAMESPACES.append(ns)
        sh(*in_ns(ns, ["ip", "link", "set", "lo", "up"]))
    sh("ip", "link", "add", "bs0", "netns", srv, "type", "veth", "peer", "name", "bc0", "netns", cli)
    sip, cip = f"{net}.0.1", f"{net}.0.2"
    for ns, dev, ip in ((srv, "bs0", sip), (cli, "bc0", cip)):
        sh(*in_ns(ns, ["ip", "addr", "add", f"{ip}/16", "dev", dev]))
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
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            code = None
        except ProcessLookupError:
            pass
    code = p.returncode
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


# ---------------------------------------------------------------- DHCP

def kea_config(iface, workdir):
    import json
    cfg = {"Dhcp4": {
        "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False, "lfc-interval": 0},
        "valid-lifetime": 3600,
        "option-def": [{"name": "avaya-site", "code": 242, "type": "string", "space": "dhcp4"}],
        "subnet4": [{"id": 1, "subnet": "10.42.0.0/16", "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": "10.42.0.1"},
                                     {"name": "avaya-site", "data": SITE, "always-send": True}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stderr"}]}],
    }}
    path = os.path.join(workdir, "kea-dhcp4.json")
    json.dump(cfg, open(path, "w"), indent=1)
    return path


def dhcp_servers(a, workdir):
    """name -> function(ns, iface, ip) starting that server; each returns its process."""
    def run_ours(ns, iface, ip):
        return ours(ns, ["dhcp", "--iface", iface, "--server-ip", ip, "--pool-start", POOL[0],
                         "--pool-end", POOL[1], "--site-string", SITE], a.bench_bin,
                    os.path.join(workdir, "ours-dhcp.log"))

    def run_dnsmasq(ns, iface, ip):
        # No DNS (port 0), leases in memory only (as ours and Kea's memfile without persist),
        # no ping before an offer (ours and Kea do not), the site option forced into every
        # reply whatever option 55 asks, and a lease limit above the pool.
        p = start(ns, ["dnsmasq", "--keep-in-foreground", "--no-daemon", "--port=0", f"--interface={iface}",
                       "--bind-interfaces", "--no-ping", "--leasefile-ro", "--dhcp-authoritative",
                       f"--dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,1h", "--dhcp-lease-max=70000",
                       f"--dhcp-option=3,{ip}", f'--dhcp-option-force=242,"{SITE}"',
                       f"--pid-file={workdir}/dnsmasq.pid", "--log-facility=-", "--quiet-dhcp"],
                  os.path.join(workdir, "dnsmasq.log"))
        wait_ready(p, ns, "udp", 67)
        return p

    def run_kea(ns, iface, ip):
        cfg = kea_config(iface, workdir)
        env_dir = os.path.join(workdir, "kea-run")
        os.makedirs(env_dir, exist_ok=True)
        p = start(ns, ["env", f"KEA_PIDFILE_DIR={env_dir}", f"KEA_LOCKFILE_DIR={env_dir}",
                       "kea-dhcp4", "-c", cfg], os.path.join(workdir, "kea.log"))
        wait_ready(p, ns, "udp", 67)
        return p

    return {"phonecert": run_ours, "dnsmasq": run_dnsmasq, "kea": run_kea}


def perfdhcp(cli, cip, sip, rate, seconds, clients, seed=1):
    """One bounded perfdhcp run; returns (4-way exchanges completed per second, DISCOVERs sent
    per second)."""
    r = sh(*in_ns(cli, ["timeout", str(seconds + 15), "perfdhcp", "-4", "-l", cip, "-r", str(rate),
                        "-R", str(clients), "-p", str(seconds), "-s", str(seed), sip]), check=False)
    stats = {}
    section = None
    for line in r.stdout.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            section = m.group(1)
        m = re.match(r"(sent|received) packets: (\d+)", line)
        if m and section:
            stats[(section, m.group(1))] = int(m.group(2))
    acks = stats.get(("REQUEST-ACK", "received"))
    sent = stats.get(("DISCOVER-OFFER", "sent"))
    if acks is None or sent is None:
        raise RuntimeError(f"perfdhcp gave no statistics (exit {r.returncode}): {r.stdout[-400:]} {r.stderr[-400:]}")
    return acks / seconds, sent / seconds


def check_option_242(name, srv, cli, cip, sip, workdir):
    """Capture a low-rate exchange and return (replies seen, replies without option 242)."""
    pcap = os.path.join(workdir, f"{name}-sample.pcapng")
    cap = subprocess.Popen(in_ns(cli, ["tshark", "-q", "-i", "bc0", "-f", "udp port 67 or udp port 68",
                                       "-a", "duration:12", "-w", pcap]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    PROCS.append(cap)
    # tshark says "Capturing on" once the capture runs.
    end = time.monotonic() + 10
    while time.monotonic() < end and "Capturing on" not in cap.stderr.readline():
        pass
    perfdhcp(cli, cip, sip, 50, 2, 50)
    stop(cap)
    r = sh("tshark", "-r", pcap, "-Y", "dhcp.option.dhcp == 2 || dhcp.option.dhcp == 5",
           "-T", "fields", "-e", "dhcp.option.type", check=False)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    missing = [l for l in lines if "242" not in l.split(",")]
    return len(lines), len(missing)


def bench_dhcp(a, workdir):
    results = {}
    servers = dhcp_servers(a, workdir)
    srv, cli, iface, sip, cip = lab("dhcp", "10.42")
    for name, run in servers.items():
        p = run(srv, iface, sip)
        seen, missing = check_option_242(name, srv, cli, cip, sip, workdir)
        stop(p)
        print(f"  {name}: option 242 in {seen - missing} of {seen} OFFER/ACK captured"
              + ("" if seen and not missing else "  <-- NOT IN EVERY REPLY"))
        results[name] = []
    for i in range(a.runs):
        for name, run in servers.items():
            p = run(srv, iface, sip)
            rate, offered = perfdhcp(cli, cip, sip, a.dhcp_rate, a.dhcp_seconds, a.dhcp_clients, seed=i + 1)
            alive = p.poll() is None
            stop(p)
            results[name].append(rate)
            print(f"  run {i + 1} {name}: {rate:.0f} leases/s (offered {offered:.0f} DISCOVER/s)"
                  + ("" if alive else "  <-- SERVER DIED"))
    table(f"DHCP 4-way exchanges per second (perfdhcp -r {a.dhcp_rate} -R {a.dhcp_clients} -p {a.dhcp_seconds}; "
          f"pool {POOL[0]}–{POOL[1]})", "leases/s", results, "phonecert")
    cleanup()
    return statistics.median(results["phonecert"])


def bench_overload(a, workdir, capacity):
    srv, cli, iface, sip, cip = lab("ovl", "10.42")
    run = dhcp_servers(a, workdir)["phonecert"]
    p = run(srv, iface, sip)
    normal = max(int(capacity * 0.5), 10)
    flood = int(capacity * 10)
    rss = lambda: int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{server_pid(p)}/status").read()).group(1))
    before, _ = perfdhcp(cli, cip, sip, normal, 5, a.dhcp_clients, seed=11)
    rss0 = rss()
    during, sent = perfdhcp(cli, cip, sip, flood, a.overload_seconds, a.dhcp_clients, seed=12)
    alive_during = p.poll() is None
    rss1 = rss() if alive_during else 0
    after = [perfdhcp(cli, cip, sip, normal, 5, a.dhcp_clients, seed=13 + i)[0] for i in range(3)]
    alive = p.poll() is None
    code = stop(p)
    cleanup()
    recovered = statistics.median(after) >= 0.9 * before
    print(f"\nDHCP overload (our server; capacity {capacity:.0f} leases/s from the dhcp benchmark)")
    print(f"  before:  {before:.0f} leases/s at {normal}/s offered")
    print(f"  flood:   {during:.0f} leases/s while perfdhcp offered {sent:.0f} DISCOVER/s "
          f"(asked {flood}/s = 10x) for {a.overload_seconds} s")
    print(f"  after:   {' '.join(f'{x:.0f}' for x in after)} leases/s at {normal}/s offered "
          f"(median {statistics.median(after) / before:.2f} of before)")
    print(f"  server:  {'alive' if alive_during and alive else 'DIED'} throughout, "
          f"RSS {rss0} kB before, {rss1} kB after the flood, exit {code} on SIGTERM")
    ok = recovered and alive and code == 0
    print(f"  verdict: {'sheds load and recovers' if ok else 'DID NOT RECOVER'}")
    return ok


def server_pid(p):
    """The pid of the server itself: `ip netns exec` execs it, so it is the process we started."""
    return p.pid


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
    results = {k: [] for k in ("phonecert http", "nginx http", "phonecert https", "nginx https")}
    for i in range(a.runs):
        for name in ("phonecert", "nginx"):
            if name == "phonecert":
                p = ours(srv, ["http", "--listen", f"{sip}:80", "--tls-listen", f"{sip}:443", "--file", image],
                         a.bench_bin, os.path.join(workdir, "ours-http.log"))
            else:
                p = start(srv, ["nginx", "-c", conf], os.path.join(workdir, "nginx.log"))
                wait_ready(p, srv, "tcp", 443)
            for scheme in ("http", "https"):
                mbs, n, err = wrk(cli, f"{scheme}://{sip}/firmware.bin", a.http_seconds, a.http_conns)
                results[f"{name} {scheme}"].append(mbs)
                print(f"  run {i + 1} {name} {scheme}: {mbs:.0f} MB/s ({n} images) {err}")
            stop(p)
    cleanup()
    table(f"Firmware download, 100 MB image, MB/s (wrk -t1 -c{a.http_conns} -d{a.http_seconds}s)", "MB/s",
          {k: results[k] for k in ("phonecert http", "nginx http")}, "phonecert http")
    table("", "MB/s", {k: results[k] for k in ("phonecert https", "nginx https")}, "phonecert https")


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
    results = {"phonecert": [], "kamailio": []}
    for i in range(a.runs):
        for name in results:
            if name == "phonecert":
                p = ours(srv, ["sip", "--listen", f"{sip}:5060", "--users", str(USERS), "--password", SECRET],
                         a.bench_bin, os.path.join(workdir, "ours-sip.log"))
            else:
                p = start(srv, ["kamailio", "-DD", "-E", "-f", cfg, "-P", os.path.join(workdir, "kamailio.pid"),
                                "-m", "256", "-M", "16"], os.path.join(workdir, "kamailio.log"))
                wait_ready(p, srv, "udp", 5060)
            rate, ok, failed = sipp(cli, cip, sip, workdir, a.sip_calls, a.sip_limit, a.sip_rate)
            stop(p)
            results[name].append(rate)
            print(f"  run {i + 1} {name}: {rate:.0f} REGISTER+digest/s ({ok} registered, {failed} failed)")
    cleanup()
    table(f"REGISTER with digest per second (SIPp, {a.sip_calls} registrations of {USER}, "
          f"{a.sip_limit} at once)", "reg/s", results, "phonecert")


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
    ap.add_argument("--only", default="dhcp,http,sip,overload")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dhcp-rate", type=int, default=20000, help="DISCOVERs per second perfdhcp offers")
    ap.add_argument("--dhcp-seconds", type=int, default=10)
    ap.add_argument("--dhcp-clients", type=int, default=10000)
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
                srv, cli, iface, sip, cip = lab("cap", "10.42")
                p = dhcp_servers(a, workdir)["phonecert"](srv, iface, sip)
                capacity, _ = perfdhcp(cli, cip, sip, a.dhcp_rate, a.dhcp_seconds, a.dhcp_clients)
                stop(p)
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
