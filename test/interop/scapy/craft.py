"""Frames crafted by scapy for test/interop/scapy.test.ts, printed as JSON on stdout.

`craft`: VXLAN frames, valid and deliberately broken, each with scapy's own view of its fields
(read back by dissecting the built bytes) or the error the decoder must report.
`dissect`: reads frames (hex, one per line on stdin) and prints scapy's view of each, with the
checksums scapy computes itself for comparison.
"""
import json
import sys

from scapy.all import Ether, Dot1Q, IP, IPv6, UDP, ICMP, Raw, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
from scapy.layers.vxlan import VXLAN

OUTER_MACS = dict(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
INNER = Ether(src="52:54:00:00:00:01", dst="52:54:00:00:00:02") / IP(src="10.1.0.1", dst="10.1.0.2") / ICMP() / Raw(b"scapy payload!")


def outer_ip(packet):
    """The first IP header (an inner frame may carry another)."""
    return next(layer for layer in packet.iterpayloads() if isinstance(layer, (IP, IPv6)))


def view(frame):
    """Scapy's reading of a frame: what the decoder must also find."""
    packet = Ether(bytes(frame))
    ip = outer_ip(packet)
    udp = packet[UDP]
    vxlan = packet[VXLAN]
    fields = {
        "ethernet": {"source": packet.src, "destination": packet.dst,
                     "vlans": [tag.vlan for tag in packet.iterpayloads() if isinstance(tag, Dot1Q)]},
        "ip": {"version": ip.version, "source": ip.src, "destination": ip.dst,
               "ttl": ip.ttl if ip.version == 4 else ip.hlim},
        "udp": {"sourcePort": udp.sport, "destinationPort": udp.dport, "length": udp.len, "checksum": udp.chksum},
        "vxlan": {"vni": vxlan.vni, "flags": int(vxlan.flags)},
        "inner": bytes(vxlan.payload).hex(),
    }
    if int(vxlan.flags) & 0x80:
        fields["vxlan"]["gbp"] = {"group": vxlan.gpid, "dontLearn": bool(vxlan.gpflags & 0x40), "policyApplied": bool(vxlan.gpflags & 0x08)}
    return fields


def craft():
    v4 = lambda **ip: Ether(**OUTER_MACS) / IP(src="192.0.2.1", dst="192.0.2.2", **ip)
    v6 = lambda **ip: Ether(**OUTER_MACS) / IPv6(src="2001:db8::1", dst="2001:db8::2", **ip)
    # flags=0x08 (I only): scapy's default, 0x0c, also sets the VXLAN-GPE P bit, which RFC 7348
    # reserves and Linux drops (see the "scapy default flags" case).
    vx = lambda **kw: VXLAN(flags=0x08, vni=kw.pop("vni", 4096), **kw) / INNER
    valid = [
        ("IPv4", v4(ttl=9) / UDP(sport=40000, dport=4789) / vx(vni=99)),
        ("IPv4 port 8472, zero UDP checksum", v4() / UDP(sport=1, dport=8472, chksum=0) / vx(vni=16777215)),
        ("802.1Q, IPv6", Ether(**OUTER_MACS) / Dot1Q(vlan=5, prio=3) / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=3) / UDP(sport=50000, dport=4789) / vx(vni=7)),
        ("IPv6 hop-by-hop + destination options", v6(hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP(sport=50001, dport=4789) / vx(vni=8)),
        ("GBP", v4() / UDP(sport=40002, dport=4789) / VXLAN(flags=0x88, gpflags=0x48, gpid=0xabc, vni=77) / INNER),
    ]
    broken = [
        ("IPv4 header checksum wrong", v4(chksum=0x1234) / UDP(sport=1, dport=4789) / vx(), "BAD_IPV4_CHECKSUM", "ipv4", 24),
        ("UDP checksum wrong", v4() / UDP(sport=1, dport=4789, chksum=0x1234) / vx(), "BAD_UDP_CHECKSUM", "udp", 40),
        ("IPv4 total length short", v4(len=60) / UDP(sport=1, dport=4789) / vx(), "LENGTH_MISMATCH", "ipv4", 16),
        ("IPv4 total length long", v4(len=1000) / UDP(sport=1, dport=4789) / vx(), "TRUNCATED", "ipv4", 14),
        ("IHL 4", v4(ihl=4) / UDP(sport=1, dport=4789) / vx(), "BAD_IHL", "ipv4", 14),
        ("IPv4 version 5", v4(version=5) / UDP(sport=1, dport=4789) / vx(), "BAD_IP_VERSION", "ipv4", 14),
        ("more fragments", v4(flags="MF") / UDP(sport=1, dport=4789) / vx(), "FRAGMENTED", "ipv4", 20),
        ("fragment offset", v4(frag=10) / UDP(sport=1, dport=4789) / vx(), "FRAGMENTED", "ipv4", 20),
        ("not a VXLAN port", v4() / UDP(sport=1, dport=4790) / vx(), "NOT_VXLAN_PORT", "udp", 36),
        ("UDP length short", v4() / UDP(sport=1, dport=4789, len=20) / vx(), "LENGTH_MISMATCH", "udp", 38),
        ("I flag clear", v4() / UDP(sport=1, dport=4789) / VXLAN(flags=0, vni=1) / INNER, "VXLAN_I_FLAG_MISSING", "vxlan", 42),
        ("reserved flag", v4() / UDP(sport=1, dport=4789) / VXLAN(flags=0x0c, vni=1) / INNER, "VXLAN_RESERVED_BITS", "vxlan", 42),
        ("reserved last byte", v4() / UDP(sport=1, dport=4789) / VXLAN(flags=0x08, vni=1, reserved2=1) / INNER, "VXLAN_RESERVED_BITS", "vxlan", 49),
        ("zero UDP checksum over IPv6", v6() / UDP(sport=1, dport=4789, chksum=0) / vx(), "ZERO_UDP_CHECKSUM_IPV6", "udp", 60),
        ("IPv6 fragment header", v6() / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=1, dport=4789) / vx(), "FRAGMENTED", "ipv6", 54),
        ("IPv6 payload length long", v6(plen=2000) / UDP(sport=1, dport=4789) / vx(), "TRUNCATED", "ipv6", 14),
        ("scapy default flags (0x0c: I and GPE's P)", v4() / UDP(sport=1, dport=4789) / VXLAN(vni=1) / INNER, "VXLAN_RESERVED_BITS", "vxlan", 42),
        ("TCP, not UDP", v4(proto=6) / UDP(sport=1, dport=4789) / vx(), "NOT_UDP", "ipv4", 23),
    ]
    out = [{"name": name, "hex": bytes(frame).hex(), "fields": view(frame)} for name, frame in valid]
    out += [{"name": name, "hex": bytes(frame).hex(), "error": {"code": code, "layer": layer, "offset": offset}}
            for name, frame, code, layer, offset in broken]
    json.dump(out, sys.stdout)


def dissect():
    out = []
    for line in sys.stdin.read().split():
        frame = bytes.fromhex(line)
        fields = view(frame)
        packet = Ether(frame)
        # Scapy's own checksums: rebuild with the fields deleted so scapy computes them.
        rebuilt = packet.copy()
        ip = outer_ip(rebuilt)
        if isinstance(ip, IP):
            del ip.chksum
        del rebuilt[UDP].chksum
        again = Ether(bytes(rebuilt))
        fields["scapyUdpChecksum"] = again[UDP].chksum
        fields["scapyIpChecksum"] = outer_ip(again).chksum if isinstance(ip, IP) else None
        out.append(fields)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"craft": craft, "dissect": dissect}[sys.argv[1]]()
