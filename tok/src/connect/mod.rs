//! `tok connect ADDR[,ADDR...] --key KEY [--tap NAME] [--dhcp | --address CIDR] [--mtu N]`:
//! create a tap, configure it, and carry its frames to a node over an
//! encrypted UDP session, failing over between the nodes listed.
//!
//! - [`args`]: checking the command line (key, addresses, MTU).
//! - [`tap`]: the tap device on tokio's `AsyncFd`.
//! - [`iproute`]: address/MTU/up via iproute2, MAC and IPv4 read-back.
//! - [`failover`]: which node to handshake with, and when to move on.
//! - [`garp`]: the 15 s gratuitous ARP.
//! - [`session`]: the event loop (tap <-> endpoint <-> UDP, timers, signals).
//! - [`offload`]: the tap's virtio-net header offloads (TSO on read,
//!   GRO-style coalescing on write), free of I/O.
//! - [`udp_socket`]: the UDP socket with large kernel buffers.
//! - [`dhcp_apply`]: a `--dhcp` lease onto the tap (`ip`, resolv.conf);
//!   the DHCP client itself is `dhcp::client` (Sans-IO).

pub mod args;
pub mod dhcp_apply;
pub mod failover;
pub mod garp;
pub mod iproute;
pub mod offload;
pub mod session;
pub mod tap;
pub mod udp_socket;

use anyhow::{Context, Result};
use clap::Args;

use crate::cidr::Cidr;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Node addresses, HOST[:PORT] (port 7370 by default), comma separated.
    /// The first is tried first; when a node is silent for 3 s the next one
    /// is tried, round robin.
    #[arg(value_name = "ADDR[,ADDR...]", value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,

    /// The access key (`ate1...`) from `tok key issue NETWORK`.
    #[arg(long, value_name = "KEY", env = "TOK_KEY", hide_env_values = true)]
    pub key: String,

    /// Name of the tap device to create.
    #[arg(long, value_name = "NAME", default_value = tap::DEFAULT_NAME)]
    pub tap: String,

    /// Address to put on the tap, e.g. 10.1.2.5/24 (repeatable). Without it
    /// the tap comes up with no address (assign one yourself).
    #[arg(long, value_name = "CIDR", value_parser = parse_address, conflicts_with = "dhcp")]
    pub address: Vec<Cidr>,

    /// Get the tap's address, default route, MTU and DNS server from the
    /// network's DHCP server, renew it, release it on exit. Rewrites
    /// /etc/resolv.conf while connected (see README).
    #[arg(long)]
    pub dhcp: bool,

    /// MTU of the tap (576..=1500).
    #[arg(long, value_name = "N", default_value_t = args::DEFAULT_MTU, value_parser = args::parse_mtu)]
    pub mtu: u16,

    /// Turn off the tap's offloads: no TSO/checksum offload asked of the
    /// kernel (every read is one MTU-sized frame), no coalescing of the
    /// TCP segments written to it. For comparisons and odd kernels.
    #[arg(long, env = "TOK_NO_OFFLOAD")]
    pub no_offload: bool,
}

fn parse_address(text: &str) -> Result<Cidr, String> {
    let cidr: Cidr = text
        .parse()
        .map_err(|e: crate::cidr::CidrError| e.to_string())?;
    if cidr.is_network() && cidr.prefix < Cidr::max_prefix(cidr.addr) {
        return Err(format!(
            "`{text}` is a network address, not a host address: expected e.g. 10.1.2.5/24"
        ));
    }
    Ok(cidr)
}

/// Runs `tok connect`. Returns when the user stops it (Ok) or on a fatal
/// error (revoked key, tap or socket failure).
pub fn run(args: ConnectArgs) -> Result<()> {
    // The key first: a typo should not need root to be reported.
    let key = args::parse_key(&args.key)?;
    let nodes = args::resolve_addrs(&args.nodes)?;
    tap::validate_name(&args.tap)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let tap = tap::Tap::create(&args.tap, !args.no_offload)?;
        let name = tap.name().to_owned();
        for cidr in &args.address {
            iproute::add_address(&name, *cidr)
                .with_context(|| format!("putting address {cidr} on tap {name}"))?;
        }
        iproute::set_mtu_and_up(&name, args.mtu)
            .with_context(|| format!("bringing tap {name} up with mtu {}", args.mtu))?;
        let mac = iproute::mac(&name)?;
        tracing::info!(tap = %name, mtu = args.mtu, offload = tap.offload(), key_id = %key.key_id, network = %key.chain_id, "tap up");
        session::Client::new(key, nodes, tap, mac, args.dhcp)?
            .run()
            .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_must_be_a_host() {
        assert!(parse_address("10.1.2.5/24").is_ok());
        assert!(parse_address("10.1.2.5/32").is_ok());
        assert!(parse_address("fd00::5/64").is_ok());
        let e = parse_address("10.1.2.0/24").unwrap_err();
        assert!(e.contains("`10.1.2.0/24`") && e.contains("host"), "{e}");
        let e = parse_address("10.1.2.5").unwrap_err();
        assert!(e.contains("`10.1.2.5`"), "{e}");
    }
}
