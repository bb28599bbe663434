#!/bin/sh
# A --reboot-cmd for the iface lab when the phone on the lab port is phonecert's reference
# phone in a network namespace (the other end of a veth): stops the running phone, if any,
# and starts a new one, which then boots like a power-cycled phone. Returns at once; the
# phone runs on, in a session of its own, until the next reboot.
#
# From phonecert (--reboot-cmd): PHONECERT_DUT_MAC, PHONECERT_WORK_DIR.
# From whoever starts phonecert:
#   SIMPHONE_NS       the phone's network namespace (required)
#   SIMPHONE_IFACE    its interface there (required)
#   SIMPHONE          the command that runs the reference phone (default: phonecert simphone)
#   SIMPHONE_ARGS     more flags for it: --user, --password, --model, --fault … (split on spaces)
#   SIMPHONE_PIDFILE  where the running phone's pid is kept
#                     (default: /run/phonecert-simphone-$SIMPHONE_NS.pid)
# The phone's own log is $PHONECERT_WORK_DIR/simphone.log, inside the scenario's run folder.
set -eu
: "${SIMPHONE_NS:?SIMPHONE_NS must name the phone's network namespace}"
: "${SIMPHONE_IFACE:?SIMPHONE_IFACE must name the phone's interface}"
: "${PHONECERT_DUT_MAC:?run this as phonecert's --reboot-cmd}"
: "${PHONECERT_WORK_DIR:?run this as phonecert's --reboot-cmd}"
pidfile=${SIMPHONE_PIDFILE:-/run/phonecert-simphone-$SIMPHONE_NS.pid}

# Power off: SIGTERM, and wait (at most 5 s) until it has gone.
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 50 ]; do
      sleep 0.1
      n=$((n + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
fi

# Power on. setsid: a session of its own, so that phonecert ending this command (or its
# process group) leaves the phone running, as a real phone would.
# shellcheck disable=SC2086 # SIMPHONE and SIMPHONE_ARGS are word lists on purpose
setsid ip netns exec "$SIMPHONE_NS" ${SIMPHONE:-phonecert simphone} \
  --iface "$SIMPHONE_IFACE" --mac "$PHONECERT_DUT_MAC" \
  --state-dir "$PHONECERT_WORK_DIR/state" --log "$PHONECERT_WORK_DIR/simphone.log" \
  ${SIMPHONE_ARGS:-} </dev/null >>"$PHONECERT_WORK_DIR/simphone.out" 2>&1 &
echo $! >"$pidfile"
echo "phone $PHONECERT_DUT_MAC started in $SIMPHONE_NS (pid $!)"
