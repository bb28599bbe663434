#!/usr/bin/env python3
"""Benchmark: a boot storm of N reference phones against one lab (`phonecert storm`).

Not a test (timings depend on the machine): it runs the storm a few times and prints, per
run and as the median over the runs, the numbers `phonecert storm` measured — time until
every phone registered, boot time (min / median / p99 / max), failures, capture drops (the
kernel's PACKET_STATISTICS in the netns lab), frames lost on the phones' shared link, and
the harness's peak RSS per phone — plus the storm's wall time and CPU time (user + system,
from the child's rusage).

Usage (as root for the netns lab; builds nothing, give it a release binary):
    cargo build --release
    python3 bench/storm.py [--phones 1000] [--runs 3] [--lab netns|loopback]
                           [--phonecert target/release/phonecert] [SCENARIO]
"""
import argparse, json, os, resource, statistics, subprocess, sys, tempfile, time


def one(args, out):
    cmd = [args.phonecert, "storm", "--phones", str(args.phones), "--lab", args.lab,
           "--out", out, "--format", "json", "--timeout", str(args.timeout)]
    if args.scenario:
        cmd.append(args.scenario)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode not in (0, 1):
        sys.exit(f"phonecert storm exited {p.returncode}:\n{p.stderr}")
    r = json.loads(p.stdout)
    return r, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phonecert", default="target/release/phonecert")
    ap.add_argument("--phones", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lab", default="netns" if os.geteuid() == 0 else "loopback")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("scenario", nargs="?")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="phonecert-storm-bench-") as out:
        for i in range(args.runs):
            r, wall, cpu = one(args, out)
            b = r["boot_time"] or {}
            row = {
                "registered": r["registered"],
                "all_registered_s": r["time_to_all_registered_s"],
                "boot_min_s": b.get("min_s"),
                "boot_median_s": b.get("median_s"),
                "boot_p99_s": b.get("p99_s"),
                "boot_max_s": b.get("max_s"),
                "failures": len(r["failures"]),
                "capture_frames": r["capture"]["frames"],
                "capture_drops": r["capture"]["drops"],
                "link_drops": r["link_drops"],
                "rss_per_phone_kib": r["memory"]["per_phone_kib"],
                "rss_added_per_phone_kib": r["memory"]["added_per_phone_kib"],
                "wall_s": wall,
                "cpu_s": cpu,
            }
            rows.append(row)
            print(f"run {i + 1}: " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))

    print(f"\n{args.phones} phones, lab {args.lab}, {args.runs} runs, {os.cpu_count()} cores: median")
    for k in rows[0]:
        vals = [row[k] for row in rows if row[k] is not None]
        if not vals:
            print(f"  {k:26} -")
            continue
        m = statistics.median(vals)
        print(f"  {k:26} {m:.3f}" if isinstance(m, float) else f"  {k:26} {m}")
    clean = all(row["registered"] == args.phones and row["capture_drops"] == 0
                and row["link_drops"] == 0 for row in rows)
    print("every run: every phone registered, 0 frames dropped" if clean
          else "NOT every run registered every phone with 0 drops")
    sys.exit(0 if clean else 1)


if __name__ == "__main__":
    main()
