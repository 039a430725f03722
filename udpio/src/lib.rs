//! Batched UDP I/O for tokio: `recvmmsg` and UDP GRO in, UDP GSO out.
//!
//! The tunnel's cost per frame is mostly the kernel's cost per datagram
//! (a system call and a trip through the stack each way). [`UdpIo`] keeps
//! the socket, [`RxBatch`] the receive buffers, and the send lanes inside
//! `UdpIo` glue same-size packets to one destination into one GSO send.
//! See the README for what this crate must not do.

mod bind;
mod rx;
mod socket;
mod tx;

pub use bind::SOCKET_BUFFER;
pub use rx::RxBatch;
pub use socket::UdpIo;
pub use tx::Sent;

/// Largest datagram a caller may queue with [`UdpIo::tx_commit`]: the
/// staging slot's size. atenet's packets are at most ~1600 bytes.
pub const MAX_DATAGRAM: usize = 2048;
