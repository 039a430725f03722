//! The UDP socket to the nodes: `udpio` binds it with large kernel
//! buffers; here tok picks the address family.

use std::net::SocketAddr;

use anyhow::{Context, Result};

/// A non-blocking UDP socket bound to the wildcard address and an
/// ephemeral port: IPv6 dual-stack when `dual_stack`, else IPv4.
pub fn bind(dual_stack: bool) -> Result<udpio::UdpIo> {
    let bind: SocketAddr = if dual_stack {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    udpio::UdpIo::bind(bind, dual_stack).with_context(|| format!("binding a UDP socket on {bind}"))
}
