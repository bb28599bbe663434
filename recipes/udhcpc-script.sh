#!/bin/sh
# The udhcpc script for busybox udhcpc as the device under test: it puts the leased address
# on the lab interface (inside the phone's namespace: nothing on the host is touched), so
# udhcpc renews from it as RFC 2131 §4.4.5 says, and removes it when the lease goes; and, as
# busybox's example script does, a default route through the first router of option 3, so
# that a client behind a relay agent reaches the server identifier on the other subnet.
# Nothing else (resolver): only the DHCP exchange is under test.
#   busybox udhcpc -f -i "$PHONECERT_IFACE" -s /path/to/recipes/udhcpc-script.sh -O 242 -O 243
set -u
case "${1:-}" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
  bound|renew)
    ip addr replace "$ip/${mask:-24}" dev "$interface"
    if [ -n "${router:-}" ]; then
      set -- $router
      ip route replace default via "$1" dev "$interface"
    fi
    ;;
  leasefail|nak)
    ;;
esac
exit 0
