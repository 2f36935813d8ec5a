#!/usr/bin/env python3
"""matrix_conf.py - one MTA's routing configuration, written from the matrix's routes.

usage: matrix_conf.py MATRIX postfix|exim|sendmail PEERPORT

Prints, for Postfix, the transport_maps, the recipient and sender access maps (inline:
tables), the local domain and the aliases; for Exim, the manualroute route_list, the denied,
failing, local and held domains and the refused senders; for Sendmail, the mailertable, the
access map and the local domain. Domains routed "dns" are looked up in DNS (the test's
resolver on loopback): a Postfix transport with DNS on, an Exim dnslookup router, no
mailertable entry. For Exim and Sendmail also "alias NAME: ADDR, ..." lines (an aliases
file), and for all "user NAME UID" for each local user, then "lifetime N" last. Each item is
one line.
"""
import json
import sys


def main():
    matrix, mta, port = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(matrix, encoding="utf-8") as f:
        m = json.load(f)
    routes = m["routes"]
    special = ("reject", "error", "dns", "local")
    relay = {d: a for d, a in routes.items() if a not in special}
    dns = [d for d, a in routes.items() if a == "dns"]
    reject = [d for d, a in routes.items() if a == "reject"]
    error = [d for d, a in routes.items() if a == "error"]
    local = [d for d, a in routes.items() if a == "local"]
    senders = m.get("reject_senders", [])
    hold = m["hold_domain"]
    aliases = m.get("aliases", {})
    if mta == "postfix":
        t = ["%s=smtp:[%s]:%s" % (d, a, port) for d, a in relay.items()]
        t += ["%s=error:5.1.2 Domain not found" % d for d in error]
        t += ["%s=dnssmtp:%s" % (d, d) for d in dns]
        print("transport_maps = inline:{ %s }" % ", ".join("{%s}" % x for x in t))
        acc = ["{%s=REJECT 5.7.1 Relay access denied}" % d for d in reject]
        acc.append("{%s=HOLD held by the matrix}" % hold)
        print("matrix_reject = inline:{ %s }" % ", ".join(acc))
        print("matrix_sender = inline:{ %s }" %
              ", ".join("{%s=REJECT 5.7.1 Sender refused}" % d for d in senders))
        print("mydestination = %s" % ", ".join(local))
        print("alias_maps = inline:{ %s }" %
              ", ".join("{%s=%s}" % (a, ", ".join(t)) for a, t in aliases.items()))
    elif mta == "exim":
        print("ROUTES=" + " ; ".join("%s %s" % (d, a) for d, a in relay.items()))
        print("DENIED=" + " : ".join(reject))
        print("FAILING=" + " : ".join(error))
        print("DNSDOMAINS=" + " : ".join(dns))
        print("LOCALDOMAINS=" + " : ".join(local))
        print("BADSENDERS=" + " : ".join("*@" + d for d in senders))
        print("HOLD=" + hold)
    elif mta == "sendmail":
        for d, a in relay.items():
            print("mailertable %s esmtp:[%s]" % (d, a))
        for d in error:
            print("mailertable %s error:5.1.2:550 Domain not found" % d)
        for d in reject:
            print("access To:%s ERROR:5.7.1:550 Relay access denied" % d)
        for d in senders:
            print("access From:%s ERROR:5.7.1:550 Sender refused" % d)
        for d in local:
            print("localdomain %s" % d)
    if mta in ("exim", "sendmail"):
        for a, t in aliases.items():
            print("alias %s: %s" % (a, ", ".join(t)))
    for u, uid in m.get("local_users", {}).items():
        print("user %s %d" % (u, uid))
    print("lifetime %d" % m["lifetime"])


if __name__ == "__main__":
    main()
