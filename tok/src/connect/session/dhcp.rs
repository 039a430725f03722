//! The client's DHCP side (`--dhcp`): the Sans-IO DHCP client's timers,
//! its frames sealed to the node, and its lease events handed to the
//! applier (addresses, routes, resolv.conf) and announced with gratuitous
//! ARPs. The event loop that calls these is `session.rs`.

use std::time::Instant;

use vswitch::wire::PacketKind;

use super::{Client, Payload};
use crate::connect::dhcp_apply::{self, Apply};
use ::dhcp::client::{Client as DhcpClient, Event, Lost};

impl Client {
    pub(super) async fn on_dhcp_timer(&mut self, now: Instant) {
        if let Some(client) = self.dhcp.as_mut().and_then(|d| d.client.as_mut()) {
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
        }
        self.drain_dhcp().await;
    }

    /// Sends what the DHCP client queued and applies its lease events.
    pub(super) async fn drain_dhcp(&mut self) {
        loop {
            let n = match self.dhcp.as_mut().and_then(|d| d.client.as_mut()) {
                Some(client) => client.poll_transmit(&mut self.dhcp_buf),
                None => None,
            };
            let Some(n) = n else {
                break;
            };
            self.seal_and_send(PacketKind::Frame, Payload::Dhcp(n))
                .await;
        }
        let mut announce = false;
        while let Some(ev) = self
            .dhcp
            .as_mut()
            .and_then(|d| d.client.as_mut())
            .and_then(DhcpClient::poll_event)
        {
            let new = matches!(ev, Event::Bound { .. });
            let job = match ev {
                Event::Bound { lease } | Event::Renewed { lease } => {
                    if new {
                        eprintln!("{}", dhcp_apply::summary(&lease));
                        if !self.ipv4.contains(&lease.addr) {
                            self.ipv4.push(lease.addr);
                        }
                        announce = true;
                    }
                    Apply::Bound { lease, new }
                }
                Event::Lost { lease, why } => {
                    eprintln!(
                        "lease {}/{} {}",
                        lease.addr,
                        lease.prefix,
                        match why {
                            Lost::Expired => "expired; asking for a new one",
                            Lost::Nak => "refused by the server (DHCPNAK); asking for a new one",
                            Lost::Replaced => "replaced by the server",
                        }
                    );
                    self.ipv4.retain(|ip| *ip != lease.addr);
                    Apply::Lost(lease)
                }
            };
            if let Some(dhcp) = &self.dhcp {
                let _ = dhcp.applier.send(job);
            }
        }
        if announce {
            self.send_garps().await;
        }
    }
}
