"""Independent witness for the traffic-class byte: node:dgram cannot report it, so this
receiver asks the kernel for IP_TOS / IPV6_TCLASS of every datagram (IP_RECVTOS /
IPV6_RECVTCLASS). Prints its port, then one JSON line: [[payload, tos], ...]."""
import json
import socket
import sys

family, count = sys.argv[1], int(sys.argv[2])
IP_RECVTOS, IPV6_RECVTCLASS, IPV6_TCLASS = 13, 66, 67
if family == "4":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
    s.bind(("127.0.0.1", 0))
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
    s.bind(("::1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(5)
got = []
try:
    while len(got) < count:
        data, anc, _flags, _addr = s.recvmsg(2048, 256)
        tos = None
        for level, kind, value in anc:
            if (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS):
                tos = value[0]
            elif (level, kind) == (socket.IPPROTO_IPV6, IPV6_TCLASS):
                tos = int.from_bytes(value[:4], sys.byteorder)
        got.append([data.decode(), tos])
except socket.timeout:
    pass
print(json.dumps(got), flush=True)
