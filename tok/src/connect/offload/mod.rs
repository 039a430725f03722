//! The tap's `IFF_VNET_HDR` offloads, free of I/O (issue 8).
//!
//! With `TUNSETOFFLOAD` (`TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`) the kernel
//! hands tok TCP super-frames of up to 64 KiB and frames whose checksum is
//! left to the device, each behind a 10-byte `struct virtio_net_hdr`.
//! [`segment`] turns one such read into the MTU-sized frames the network
//! carries (TSO done in tok); [`coalesce`] does the reverse for frames from
//! the node (GRO-style), so the receiving stack sees one large TCP segment
//! instead of dozens. The scheme follows wireguard-go's
//! `tun/offload_linux.go`, but for a TAP: frames start with the Ethernet
//! header, and `csum_start`/`hdr_len` count from the start of the frame.
//!
//! Everything read from the tap is treated as untrusted: a malformed header
//! is dropped and counted, never a panic.

pub mod checksum;
pub mod coalesce;
pub mod segment;

#[cfg(test)]
mod tests;

/// Size of `struct virtio_net_hdr` (no `num_buffers`): what precedes every
/// frame read from or written to a tap opened with `IFF_VNET_HDR`.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum from `csum_start` to the end
/// is still to be computed and stored at `csum_start + csum_offset`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`: ORed into `gso_type` when the super-frame has
/// CWR set.
pub const GSO_ECN: u8 = 0x80;

/// Ethernet header without a VLAN tag.
pub const ETH_LEN: usize = 14;
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHERTYPE_VLAN: u16 = 0x8100;
pub(crate) const ETHERTYPE_QINQ: u16 = 0x88a8;
pub(crate) const PROTO_TCP: u8 = 6;

pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_PSH: u8 = 0x08;
pub(crate) const TCP_ACK: u8 = 0x10;
pub(crate) const TCP_CWR: u8 = 0x80;
/// Offset of the TCP checksum in the TCP header (`csum_offset`).
pub(crate) const TCP_CSUM_OFFSET: usize = 16;

/// `struct virtio_net_hdr` (legacy layout, little-endian as the kernel's
/// tun driver uses it on little-endian hosts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The all-zero header: a complete frame, nothing to do.
    pub const NONE: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

    /// Reads the header at the start of `bytes` (None when shorter).
    pub fn parse(bytes: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = bytes.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header's 10 bytes.
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
