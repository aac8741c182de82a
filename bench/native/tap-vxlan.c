/*
 * The floor of a userspace VTEP's round trip, for bench/latency.ts (path fkNative): the least a
 * forwarder can do between a TAP and a UDP socket, in C, with nothing of vxlan-wasm in it.
 * One thread, poll() on both fds, each frame forwarded the moment it is read (no batching, no
 * learning, one peer, one VNI): TAP frame -> VXLAN header + frame in one sendmsg to the peer;
 * datagram -> VXLAN header checked and stripped -> the frame written to the TAP.
 *
 * It shows what a round trip costs any userspace forwarder on this machine: the thread wakes, the
 * syscalls, the copies. What the vxlan-wasm forwarder adds beyond it is the forwarder's own.
 * Not a product: no offloads (the TAP hands it whole frames, so its bandwidth is low), IPv4 only.
 *
 * Like the vxlan-wasm forwarder it finishes a partial inner checksum (a Linux peer's TCP/UDP
 * checksum offload leaves the pseudo-header sum in the field; see ARCHITECTURE.md): such a frame
 * goes to the TAP with a virtio-net header asking the kernel to finish it, or TCP would not pass.
 *
 * usage: tap-vxlan TAP VNI LOCAL_IPV4 PEER_IPV4 PORT MTU
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define VXLAN_LEN 8
#define ETH_LEN 14

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static void die(const char *what) {
  fprintf(stderr, "{\"level\":50,\"msg\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/*
 * If `frame` is IPv4 TCP/UDP whose checksum field holds exactly the folded pseudo-header sum (what
 * CHECKSUM_PARTIAL leaves), fill `hdr` so the TAP's kernel finishes it; otherwise leave it zero.
 */
static void partial_checksum(const uint8_t *frame, size_t len, struct virtio_net_hdr *hdr) {
  memset(hdr, 0, sizeof *hdr);
  if (len < ETH_LEN + 20 || frame[12] != 0x08 || frame[13] != 0x00) return;
  const uint8_t *ip = frame + ETH_LEN;
  size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
  uint8_t proto = ip[9];
  size_t total = (size_t)ip[2] << 8 | ip[3];
  if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || ETH_LEN + total > len) return;
  if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return; /* a fragment */
  size_t offset = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  size_t l4 = total - ihl;
  if (offset == 0 || l4 < offset + 2) return;
  const uint8_t *field = ip + ihl + offset;
  uint32_t pseudo = sum16(ip + 12, 8, 0) + proto + (uint32_t)l4;
  if (((uint16_t)field[0] << 8 | field[1]) != fold(pseudo)) return;
  hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr->csum_start = (uint16_t)(ETH_LEN + ihl);
  hdr->csum_offset = (uint16_t)offset;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s TAP VNI LOCAL_IPV4 PEER_IPV4 PORT MTU\n", argv[0]);
    return 2;
  }
  uint32_t vni = (uint32_t)strtoul(argv[2], NULL, 10);
  int port = atoi(argv[5]);
  int mtu = atoi(argv[6]);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tap < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(tap, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifr.ifr_mtu = mtu;
  if (ioctl(ctl, SIOCSIFMTU, &ifr) < 0) die("SIOCSIFMTU");
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
  close(ctl);

  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (udp < 0) die("socket");
  struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (inet_pton(AF_INET, argv[3], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[4], &peer.sin_addr) != 1) {
    fprintf(stderr, "LOCAL_IPV4 and PEER_IPV4 are dotted quads\n");
    return 2;
  }
  if (bind(udp, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  fprintf(stderr, "{\"level\":30,\"msg\":\"forwarding\",\"engine\":\"bench/native/tap-vxlan.c\"}\n");

  static uint8_t buffer[65536 + 64];
  uint8_t vxlan[VXLAN_LEN] = { 0x08, 0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0 };
  struct pollfd fds[2] = { { .fd = tap, .events = POLLIN }, { .fd = udp, .events = POLLIN } };
  unsigned long toPeer = 0, toTap = 0, dropped = 0;
  while (!stopping) {
    if (poll(fds, 2, 200) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    /* TAP -> peer: skip the (empty: no offloads asked) virtio-net header, prepend VXLAN. */
    for (;;) {
      ssize_t n = read(tap, buffer, sizeof buffer);
      if (n < 0) break;
      if ((size_t)n <= sizeof(struct virtio_net_hdr)) continue;
      struct iovec iov[2] = { { vxlan, VXLAN_LEN }, { buffer + sizeof(struct virtio_net_hdr), (size_t)n - sizeof(struct virtio_net_hdr) } };
      struct msghdr msg = { .msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = iov, .msg_iovlen = 2 };
      if (sendmsg(udp, &msg, 0) < 0) dropped++;
      else toPeer++;
    }
    /* peer -> TAP: check and strip VXLAN, write the frame behind a virtio-net header. */
    for (;;) {
      ssize_t n = recv(udp, buffer, sizeof buffer, 0);
      if (n < 0) break;
      if (n < VXLAN_LEN + ETH_LEN || (buffer[0] & 0x08) == 0 || ((uint32_t)buffer[4] << 16 | (uint32_t)buffer[5] << 8 | buffer[6]) != vni) {
        dropped++;
        continue;
      }
      struct virtio_net_hdr hdr;
      partial_checksum(buffer + VXLAN_LEN, (size_t)n - VXLAN_LEN, &hdr);
      struct iovec iov[2] = { { &hdr, sizeof hdr }, { buffer + VXLAN_LEN, (size_t)n - VXLAN_LEN } };
      if (writev(tap, iov, 2) < 0) dropped++;
      else toTap++;
    }
  }
  fprintf(stderr, "{\"level\":30,\"msg\":\"stopped\",\"toPeer\":%lu,\"toTap\":%lu,\"dropped\":%lu}\n", toPeer, toTap, dropped);
  return 0;
}
