#!/bin/sh
# The dhclient-script(8) for ISC dhclient as the device under test: it puts the leased
# address on the lab interface (inside the phone's namespace: nothing on the host is
# touched), so dhclient renews from that address by unicast as RFC 2131 §4.4.5 says, and
# takes it away when the lease is lost; and, as the stock dhclient-script does, a default
# route through the first router of option 3, so that a client behind a relay agent reaches
# the server identifier on the other subnet. Nothing else (resolver, hooks): only the DHCP
# exchange is under test.
#   dhclient -d -sf /path/to/recipes/dhclient-script.sh -cf /path/to/recipes/dhclient.conf …
set -u
case "${reason:-}" in
  PREINIT)
    ip link set dev "$interface" up
    ;;
  BOUND|RENEW|REBIND|REBOOT)
    if [ -n "${old_ip_address:-}" ] && [ "${old_ip_address}" != "${new_ip_address}" ]; then
      ip addr del "$old_ip_address/${old_subnet_mask:-255.255.255.0}" dev "$interface" 2>/dev/null
    fi
    ip addr replace "$new_ip_address/${new_subnet_mask:-255.255.255.0}" dev "$interface"
    if [ -n "${new_routers:-}" ]; then
      set -- $new_routers
      ip route replace default via "$1" dev "$interface"
    fi
    ;;
  EXPIRE|FAIL|RELEASE|STOP)
    if [ -n "${old_ip_address:-}" ]; then
      ip addr del "$old_ip_address/${old_subnet_mask:-255.255.255.0}" dev "$interface" 2>/dev/null
    fi
    ;;
esac
exit 0
