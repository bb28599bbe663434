#!/usr/bin/env python3
"""Benchmark: how long phonecert takes compared with what the phone itself does.

Not a test (timings depend on the machine): it prints numbers to track between changes.

1. The clean suite against the reference phone, once per `--jobs` value asked for (default:
   1, then the run's own default of one per core): the run's wall time divided by the phone's
   own activity (for each scenario, the lab time from its start to its last event, summed).
   With --jobs 1, 1.0 would mean the harness adds nothing; every second above it is set-up,
   tear-down or watching after the last event. With more jobs the ratio falls below 1 as
   scenarios overlap; the speed-up against --jobs 1 is printed too.
2. Every entry of scenarios/expectations/faults.toml: the scenario it names, run against the
   reference phone with that fault switch, one after another; the total wall time and the
   slowest entries.

Usage (as root for the netns lab; builds nothing, give it a release binary):
    cargo build --release
    python3 bench/suite-time.py [--phonecert target/release/phonecert] [--lab netns] [--jobs 1,2,4]
"""
import argparse, glob, json, os, re, subprocess, sys, tempfile, time, tomllib


def activity(run_dir):
    rep = json.load(open(os.path.join(run_dir, "report.json")))
    total = 0.0
    for s in rep["scenarios"]:
        if not s.get("timeline"):
            continue
        tl = json.load(open(os.path.join(run_dir, s["timeline"])))
        total += max((e["t"] for e in tl["timeline"]["events"]), default=0.0)
    return rep, total


def scenario_files():
    out = {}
    for p in glob.glob("scenarios/**/*.toml", recursive=True):
        if "/fixtures/" in p or "/expectations/" in p:
            continue
        m = re.search(r'^id\s*=\s*"([^"]+)"', open(p).read(), re.M)
        if m:
            out[m.group(1)] = p
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phonecert", default="target/release/phonecert")
    ap.add_argument("--lab", default=None, help="netns (default as root) or loopback")
    ap.add_argument("--skip-faults", action="store_true")
    ap.add_argument("--jobs", default="1,default",
                    help="comma-separated --jobs values for the clean suite; `default` runs without --jobs")
    a = ap.parse_args()
    lab = ["--lab", a.lab] if a.lab else []
    out = tempfile.mkdtemp(prefix="phonecert-bench-")

    first = None
    for jobs in a.jobs.split(","):
        flag = [] if jobs == "default" else ["--jobs", jobs]
        run_out = tempfile.mkdtemp(prefix=f"phonecert-bench-jobs-{jobs}-")
        t0 = time.monotonic()
        rc = subprocess.run([a.phonecert, "run", *lab, *flag, "--out", run_out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.monotonic() - t0
        rep, act = activity(os.path.join(run_out, "reports", "latest"))
        s = rep["summary"]
        first = first or wall
        print(f"clean suite, --jobs {jobs}: exit {rc}, {s['pass']} pass / {s['fail']} fail / "
              f"{s['error']} error / {s['skip']} skip")
        print(f"  wall {wall:.1f} s, phone activity {act:.1f} s, wall / activity = {wall / act:.2f}, "
              f"speed-up against the first = {first / wall:.2f}")
    if a.skip_faults:
        return
    files = scenario_files()
    entries = [e for e in tomllib.load(open("scenarios/expectations/faults.toml", "rb"))["fault"] if "scenario" in e]
    times = []
    t0 = time.monotonic()
    for e in entries:
        t = time.monotonic()
        r = subprocess.run([a.phonecert, "run", *lab, "--sim-fault", e["name"], "--out", out, files[e["scenario"]]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append((time.monotonic() - t, e["name"], e["scenario"], r))
    total = time.monotonic() - t0
    print(f"fault runs: {len(entries)} entries in {total:.1f} s "
          f"({sum(1 for x in times if x[3] == 1)} exit 1 as expected)")
    for d, n, sc, r in sorted(times, reverse=True)[:6]:
        print(f"  {d:6.1f} s  {n}@{sc} (exit {r})")


if __name__ == "__main__":
    sys.exit(main())
