#!/usr/bin/env python3
"""matrix_conf.py - one MTA's routing configuration, written from the matrix's routes.

usage: matrix_conf.py MATRIX postfix|exim|sendmail PEERPORT

Prints, for Postfix, the transport_maps and the recipient access map (inline: tables); for
Exim, the manualroute route_list, the denied and the failing domains; for Sendmail, the
mailertable and the access map. Domains routed "dns" are looked up in DNS (the test's
resolver on loopback): a Postfix transport with DNS on, an Exim dnslookup router, no
mailertable entry. Also prints "lifetime N" last. Each item is one line.
"""
import json
import sys


def main():
    matrix, mta, port = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(matrix, encoding="utf-8") as f:
        m = json.load(f)
    routes = m["routes"]
    relay = {d: a for d, a in routes.items() if a not in ("reject", "error", "dns")}
    dns = [d for d, a in routes.items() if a == "dns"]
    reject = [d for d, a in routes.items() if a == "reject"]
    error = [d for d, a in routes.items() if a == "error"]
    if mta == "postfix":
        t = ["%s=smtp:[%s]:%s" % (d, a, port) for d, a in relay.items()]
        t += ["%s=error:5.1.2 Domain not found" % d for d in error]
        t += ["%s=dnssmtp:%s" % (d, d) for d in dns]
        print("transport_maps = inline:{ %s }" % ", ".join("{%s}" % x for x in t))
        print("matrix_reject = inline:{ %s }" %
              ", ".join("{%s=REJECT 5.7.1 Relay access denied}" % d for d in reject))
    elif mta == "exim":
        print("ROUTES=" + " ; ".join("%s %s" % (d, a) for d, a in relay.items()))
        print("DENIED=" + " : ".join(reject))
        print("FAILING=" + " : ".join(error))
        print("DNSDOMAINS=" + " : ".join(dns))
    elif mta == "sendmail":
        for d, a in relay.items():
            print("mailertable %s esmtp:[%s]" % (d, a))
        for d in error:
            print("mailertable %s error:5.1.2:550 Domain not found" % d)
        for d in reject:
            print("access To:%s ERROR:5.7.1:550 Relay access denied" % d)
    print("lifetime %d" % m["lifetime"])


if __name__ == "__main__":
    main()
