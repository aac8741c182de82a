"""Frames crafted by scapy for test/interop/scapy.test.ts, printed as JSON on stdout.

Run with Debian's /usr/bin/python3 (python3-scapy).

`craft`: VXLAN frames, valid and deliberately broken, each with scapy's own view of its fields
(read back by dissecting the built bytes, in the shape of the library's VxlanFrame) or the
DecodeError the decoder must report, with the offset located by scapy's own layer positions.
`dissect`: reads frames (hex, one per line on stdin) and prints scapy's view of each, plus the
IPv4 and UDP checksums scapy computes itself when asked to rebuild them.
"""
import json
import sys

from scapy.all import (
    Ether, Dot1Q, Dot1AD, ARP, IP, IPOption_Router_Alert, IPv6, UDP, ICMP, Raw, Padding,
    IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment,
)
from scapy.layers.vxlan import VXLAN

OUTER_MACS = dict(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
INNER = Ether(src="52:54:00:00:00:01", dst="52:54:00:00:00:02") / IP(src="10.1.0.1", dst="10.1.0.2") / ICMP() / Raw(b"scapy payload!")
INNER_V6_ODD = Ether(src="52:54:00:00:00:03", dst="52:54:00:00:00:04") / IPv6(src="fd01::1", dst="fd01::2") / UDP(sport=5, dport=6) / Raw(b"odd")
INNER_ARP = Ether(src="52:54:00:00:00:05", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.1.0.5", pdst="10.1.0.6")

VLAN_TYPES = (Dot1Q, Dot1AD)
# IPv6 extension header classes by protocol number, as listed in the library's Ipv6ExtensionHeader.
EXTENSION_TYPES = {IPv6ExtHdrHopByHop: 0, IPv6ExtHdrRouting: 43, IPv6ExtHdrFragment: 44, IPv6ExtHdrDestOpt: 60}


def layers(packet):
    """The packet's layers, outermost first."""
    return [packet] + list(packet.iterpayloads())[1:]


def offset_of(packet, layer):
    """Byte offset of a layer object within the packet, from scapy's own encoding."""
    return len(bytes(packet)) - len(bytes(layer))


def outer_ip(packet):
    """The first IP header (the inner frame may carry another)."""
    return next(layer for layer in layers(packet) if isinstance(layer, (IP, IPv6)))


def view(frame):
    """Scapy's reading of a frame, in the shape of the library's VxlanFrame."""
    packet = Ether(bytes(frame))
    ip = outer_ip(packet)
    tags = []
    for layer in layers(packet):
        if isinstance(layer, (IP, IPv6)):
            break
        if isinstance(layer, VLAN_TYPES):
            tags.append(layer)
    # The TPID of a tag is the type field of the header before it.
    tpids = [packet.type] + [tag.type for tag in tags]
    vlans = [{"tpid": tpids[i], "pcp": tag.prio, "dei": bool(tag.dei if hasattr(tag, "dei") else tag.id), "vid": tag.vlan}
             for i, tag in enumerate(tags)]
    ethernet = {"destination": packet.dst, "source": packet.src, "etherType": tpids[-1], "vlans": vlans}
    if ip.version == 4:
        ip_fields = {
            "version": 4, "ihl": ip.ihl, "dscp": ip.tos >> 2, "ecn": ip.tos & 3, "totalLength": ip.len,
            "identification": ip.id, "dontFragment": bool(ip.flags.DF), "moreFragments": bool(ip.flags.MF),
            "fragmentOffset": ip.frag, "ttl": ip.ttl, "protocol": ip.proto, "checksum": ip.chksum,
            "source": ip.src, "destination": ip.dst, "options": bytes(ip)[20:ip.ihl * 4].hex(),
        }
    else:
        extensions = []
        for layer in layers(ip)[1:]:
            if type(layer) not in EXTENSION_TYPES:
                break
            # Fragment headers are always 8 bytes; the others count 8-byte units after the first.
            length = 8 if isinstance(layer, IPv6ExtHdrFragment) else (layer.len + 1) * 8
            extensions.append({"type": EXTENSION_TYPES[type(layer)], "length": length})
        ip_fields = {
            "version": 6, "trafficClass": ip.tc, "flowLabel": ip.fl, "payloadLength": ip.plen, "nextHeader": ip.nh,
            "hopLimit": ip.hlim, "source": ip.src, "destination": ip.dst, "extensionHeaders": extensions,
        }
    udp = packet[UDP]
    vxlan = packet[VXLAN]
    vxlan_fields = {"flags": int(vxlan.flags), "vni": vxlan.vni}
    if vxlan.flags.G:
        vxlan_fields["gbp"] = {"group": vxlan.gpid, "dontLearn": bool(vxlan.gpflags.D), "policyApplied": bool(vxlan.gpflags.A)}
    return {
        "ethernet": ethernet,
        "ip": ip_fields,
        "udp": {"sourcePort": udp.sport, "destinationPort": udp.dport, "length": udp.len, "checksum": udp.chksum},
        "vxlan": vxlan_fields,
        # Up to the end of the UDP datagram: scapy keeps Ethernet padding in the payload bytes.
        "inner": bytes(vxlan.payload)[:udp.len - 16].hex(),
    }


def v4(**ip):
    return Ether(**OUTER_MACS) / IP(src="192.0.2.1", dst="192.0.2.2", **ip)


def v6(**ip):
    return Ether(**OUTER_MACS) / IPv6(src="2001:db8::1", dst="2001:db8::2", **ip)


def vx(inner=INNER, **fields):
    """VXLAN with only the I flag. Scapy's own default when an Ether follows is 0x0c plus a
    NextProtocol byte (VXLAN-GPE's P bit), which RFC 7348 reserves and Linux drops."""
    fields.setdefault("flags", 0x08)
    fields.setdefault("vni", 4096)
    return VXLAN(**fields) / inner


def built(packet):
    """Build once, so that the checksums and lengths scapy computes are fixed, and re-read it."""
    return Ether(bytes(packet))


def valid_cases():
    return [
        ("IPv4, TOS/ECN, id, DF", v4(ttl=9, tos=0xb9, id=0x1234, flags="DF") / UDP(sport=40000, dport=4789) / vx(vni=99), {}),
        ("IPv4, port 8472, zero UDP checksum, VNI 2^24-1", v4() / UDP(sport=1, dport=8472, chksum=0) / vx(vni=0xffffff), {}),
        ("IPv4 with a Router Alert option (IHL 6)", v4(options=[IPOption_Router_Alert()]) / UDP(sport=2, dport=4789) / vx(vni=5), {}),
        ("IPv4, VNI 0, inner ARP", v4() / UDP(sport=3, dport=4789) / vx(INNER_ARP, vni=0), {}),
        ("802.1Q (pcp 3, DEI), IPv6 traffic class and flow label",
         Ether(**OUTER_MACS) / Dot1Q(vlan=5, prio=3, id=1) / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=3, tc=0xb8, fl=0xabcde)
         / UDP(sport=50000, dport=4789) / vx(vni=7), {}),
        ("802.1ad + 802.1Q (QinQ), IPv4",
         Ether(**OUTER_MACS) / Dot1AD(vlan=100) / Dot1Q(vlan=200, prio=7) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=4, dport=4789) / vx(), {}),
        ("IPv6 hop-by-hop + destination options", v6(hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP(sport=50001, dport=4789) / vx(vni=8), {}),
        ("IPv6 routing header (segments left 0), inner IPv6/UDP with odd length",
         v6() / IPv6ExtHdrRouting(addresses=["2001:db8::99"], segleft=0) / UDP(sport=50002, dport=4789) / vx(INNER_V6_ODD, vni=9), {}),
        ("IPv6 zero UDP checksum, allowed by option", v6() / UDP(sport=6, dport=4789, chksum=0) / vx(vni=10), {"allowZeroUdpChecksumIpv6": True}),
        ("GBP D + A, group 0xabc", v4() / UDP(sport=40002, dport=4789) / VXLAN(flags=0x88, gpflags="D+A", gpid=0xabc, vni=77) / INNER, {"gbp": True}),
        ("GBP A only, group 0, over IPv6", v6() / UDP(sport=40003, dport=4789) / VXLAN(flags=0x88, gpflags="A", gpid=0, vni=78) / INNER, {"gbp": True}),
        ("lax: scapy's default flags (0x0c, GPE) and NextProtocol", v4() / UDP(sport=7, dport=4789) / VXLAN(vni=11) / INNER, {"strict": False}),
        ("lax: Ethernet padding after the IPv4 packet", v4() / UDP(sport=8, dport=4789) / vx(vni=12) / Padding(b"\0" * 6), {"strict": False}),
    ]


def broken_cases():
    """(name, packet, decap options, code, layer, function of the built packet giving the offset)."""
    ip4 = lambda p: offset_of(p, p[IP])
    ip6 = lambda p: offset_of(p, p[IPv6])
    udp = lambda p: offset_of(p, p[UDP])
    vxl = lambda p: offset_of(p, p[VXLAN])
    cut_v4 = bytes(v4() / UDP(sport=1, dport=4789) / vx())
    many_tags = Ether(**OUTER_MACS)
    for _ in range(9):
        many_tags = many_tags / Dot1Q(vlan=1)
    return [
        ("IPv4 header checksum wrong", v4(chksum=0x1234) / UDP(sport=1, dport=4789) / vx(), {}, "BAD_IPV4_CHECKSUM", "ipv4", lambda p: ip4(p) + 10),
        ("802.1Q, IPv4 header checksum wrong", Ether(**OUTER_MACS) / Dot1Q(vlan=9) / IP(src="192.0.2.1", dst="192.0.2.2", chksum=0x1234)
         / UDP(sport=1, dport=4789) / vx(), {}, "BAD_IPV4_CHECKSUM", "ipv4", lambda p: ip4(p) + 10),
        ("UDP checksum wrong", v4() / UDP(sport=1, dport=4789, chksum=0x1234) / vx(), {}, "BAD_UDP_CHECKSUM", "udp", lambda p: udp(p) + 6),
        ("IPv6 UDP checksum wrong", v6() / UDP(sport=1, dport=4789, chksum=0x1234) / vx(), {}, "BAD_UDP_CHECKSUM", "udp", lambda p: udp(p) + 6),
        ("IPv6 hop-by-hop, UDP checksum wrong", v6() / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=4789, chksum=0xbeef) / vx(), {},
         "BAD_UDP_CHECKSUM", "udp", lambda p: udp(p) + 6),
        ("IPv4 total length short", v4(len=60) / UDP(sport=1, dport=4789) / vx(), {}, "LENGTH_MISMATCH", "ipv4", lambda p: ip4(p) + 2),
        ("IPv4 total length below the header", v4(len=19) / UDP(sport=1, dport=4789) / vx(), {}, "LENGTH_MISMATCH", "ipv4", lambda p: ip4(p) + 2),
        ("IPv4 total length long", v4(len=1000) / UDP(sport=1, dport=4789) / vx(), {}, "TRUNCATED", "ipv4", ip4),
        ("strict: Ethernet padding after the IPv4 packet", v4() / UDP(sport=8, dport=4789) / vx() / Padding(b"\0" * 6), {},
         "LENGTH_MISMATCH", "ipv4", lambda p: ip4(p) + 2),
        ("IHL 4", v4(ihl=4) / UDP(sport=1, dport=4789) / vx(), {}, "BAD_IHL", "ipv4", ip4),
        ("IPv4 version 5", v4(version=5) / UDP(sport=1, dport=4789) / vx(), {}, "BAD_IP_VERSION", "ipv4", ip4),
        ("IPv6 packet under EtherType IPv4", Ether(type=0x0800, **OUTER_MACS) / IPv6(src="2001:db8::1", dst="2001:db8::2")
         / UDP(sport=1, dport=4789) / vx(), {}, "BAD_IP_VERSION", "ipv4", lambda p: 14),
        ("more fragments", v4(flags="MF") / UDP(sport=1, dport=4789) / vx(), {}, "FRAGMENTED", "ipv4", lambda p: ip4(p) + 6),
        ("fragment offset", v4(frag=10) / UDP(sport=1, dport=4789) / vx(), {}, "FRAGMENTED", "ipv4", lambda p: ip4(p) + 6),
        ("TCP, not UDP", v4(proto=6) / UDP(sport=1, dport=4789) / vx(), {}, "NOT_UDP", "ipv4", lambda p: ip4(p) + 9),
        ("outer ARP", Ether(**OUTER_MACS) / ARP(), {}, "NOT_IPV4_OR_IPV6", "ethernet", lambda p: 12),
        ("nine VLAN tags", many_tags / IP() / UDP(sport=1, dport=4789) / vx(), {}, "TOO_MANY_VLAN_TAGS", "ethernet", lambda p: 12 + 8 * 4),
        ("cut inside the IPv4 header", Raw(cut_v4[:24]), {}, "TRUNCATED", "ipv4", lambda p: 14),
        ("not a VXLAN port", v4() / UDP(sport=1, dport=4790) / vx(), {}, "NOT_VXLAN_PORT", "udp", lambda p: udp(p) + 2),
        ("4789 when only 8472 is accepted", v4() / UDP(sport=1, dport=4789) / vx(), {"ports": [8472]}, "NOT_VXLAN_PORT", "udp", lambda p: udp(p) + 2),
        ("UDP length short", v4() / UDP(sport=1, dport=4789, len=20) / vx(), {}, "LENGTH_MISMATCH", "udp", lambda p: udp(p) + 4),
        ("UDP length below 8", v4() / UDP(sport=1, dport=4789, len=7) / vx(), {}, "LENGTH_MISMATCH", "udp", lambda p: udp(p) + 4),
        ("UDP length past the IP payload", v4() / UDP(sport=1, dport=4789, len=2000) / vx(), {}, "LENGTH_MISMATCH", "udp", lambda p: udp(p) + 4),
        ("zero UDP checksum over IPv6", v6() / UDP(sport=1, dport=4789, chksum=0) / vx(), {}, "ZERO_UDP_CHECKSUM_IPV6", "udp", lambda p: udp(p) + 6),
        ("IPv6 fragment header", v6() / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=1, dport=4789) / vx(), {},
         "FRAGMENTED", "ipv6", lambda p: offset_of(p, p[IPv6ExtHdrFragment])),
        ("IPv6 destination options longer than the packet", v6() / IPv6ExtHdrDestOpt(len=200) / UDP(sport=1, dport=4789) / vx(), {},
         "BAD_IPV6_EXTENSION", "ipv6", lambda p: offset_of(p, p[IPv6ExtHdrDestOpt])),
        ("IPv6 payload length long", v6(plen=2000) / UDP(sport=1, dport=4789) / vx(), {}, "TRUNCATED", "ipv6", ip6),
        ("I flag clear", v4() / UDP(sport=1, dport=4789) / vx(flags=0, vni=1), {}, "VXLAN_I_FLAG_MISSING", "vxlan", vxl),
        ("I flag clear, lax", v4() / UDP(sport=1, dport=4789) / vx(flags=0, vni=1), {"strict": False}, "VXLAN_I_FLAG_MISSING", "vxlan", vxl),
        ("reserved flag bit (0x01)", v4() / UDP(sport=1, dport=4789) / vx(flags=0x09, vni=1), {}, "VXLAN_RESERVED_BITS", "vxlan", vxl),
        # reserved1 is the 24 bits after the flags: byte 1 (GBP's flag byte) and bytes 2-3 (GBP's group id).
        ("reserved bits after the flags (byte 1)", v4() / UDP(sport=1, dport=4789) / vx(reserved1=0x010000), {}, "VXLAN_RESERVED_BITS", "vxlan", lambda p: vxl(p) + 1),
        ("reserved bits after the flags (byte 3)", v4() / UDP(sport=1, dport=4789) / vx(reserved1=0x000001), {}, "VXLAN_RESERVED_BITS", "vxlan", lambda p: vxl(p) + 2),
        ("reserved last byte", v4() / UDP(sport=1, dport=4789) / vx(reserved2=1), {}, "VXLAN_RESERVED_BITS", "vxlan", lambda p: vxl(p) + 7),
        ("scapy default flags (0x0c: I and GPE's P)", v4() / UDP(sport=1, dport=4789) / VXLAN(vni=1) / INNER, {}, "VXLAN_RESERVED_BITS", "vxlan", vxl),
        ("GBP without the gbp option", v4() / UDP(sport=1, dport=4789) / VXLAN(flags=0x88, gpid=5, vni=1) / INNER, {}, "VXLAN_RESERVED_BITS", "vxlan", vxl),
        ("VNI not the expected one", v4() / UDP(sport=1, dport=4789) / vx(vni=2), {"vni": 3}, "VNI_MISMATCH", "vxlan", lambda p: vxl(p) + 4),
    ]


def craft():
    out = [{"name": name, "hex": bytes(frame).hex(), "options": options, "fields": view(frame)} for name, frame, options in valid_cases()]
    for name, frame, options, code, layer, offset in broken_cases():
        out.append({"name": name, "hex": bytes(frame).hex(), "options": options,
                    "error": {"code": code, "layer": layer, "offset": offset(built(frame))}})
    json.dump(out, sys.stdout)


def dissect():
    out = []
    for line in sys.stdin.read().split():
        frame = bytes.fromhex(line)
        fields = view(frame)
        # Scapy's own checksums: rebuild with the fields deleted so scapy computes them.
        rebuilt = Ether(frame)
        ip = outer_ip(rebuilt)
        if isinstance(ip, IP):
            del ip.chksum
        if rebuilt[UDP].chksum != 0:
            del rebuilt[UDP].chksum
        again = Ether(bytes(rebuilt))
        fields["scapyUdpChecksum"] = again[UDP].chksum
        fields["scapyIpChecksum"] = outer_ip(again).chksum if isinstance(ip, IP) else None
        fields["scapySummary"] = again.summary()
        out.append(fields)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"craft": craft, "dissect": dissect}[sys.argv[1]]()
