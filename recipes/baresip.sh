#!/bin/sh
# baresip (Debian baresip-core) as the device under test for the registration scenarios:
#   phonecert run --dut-protocols sip \
#     --dut-cmd 'exec sh '"$PWD"'/recipes/baresip.sh' scenarios/registration
# (from the repository's root: the command runs in $PHONECERT_WORK_DIR, so the path must be
# absolute).
#
# A SIP-only device gets no address from DHCP, so the script gives the lab interface a fixed
# one below the DHCP pool (.50 of the server's /24), writes a baresip configuration for the
# scenario's account into the work folder — the first controller of $PHONECERT_SIP_PORTS as
# the outbound proxy, UDP, the registration time the UA asks for — and runs baresip in the
# foreground. No audio or video module is loaded: only registration is under test.
set -eu

: "${PHONECERT_IFACE:?run by phonecert --dut-cmd}"
net=${PHONECERT_SERVER_IP%.*}
ip addr replace "$net.50/24" dev "$PHONECERT_IFACE"
ip link set dev "$PHONECERT_IFACE" up

port=${PHONECERT_SIP_PORTS%%,*}
conf="$PHONECERT_WORK_DIR/baresip"
mkdir -p "$conf"

cat > "$conf/config" <<CONF
poll_method		epoll
sip_listen		$net.50:5060
sip_trans_def		udp
module_path		/usr/lib/baresip/modules
module			g711.so
module_app		account.so
audio_player		none
audio_source		none
audio_alert		none
CONF

cat > "$conf/accounts" <<ACCOUNTS
<sip:$PHONECERT_SIP_USER@$PHONECERT_SIP_DOMAIN;transport=udp>;auth_pass=$PHONECERT_SIP_PASSWORD;outbound="sip:$PHONECERT_SERVER_IP:$port;transport=udp;lr";regint=900
ACCOUNTS
: > "$conf/contacts"

exec baresip -f "$conf"
