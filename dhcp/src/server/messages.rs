//! What the server does with each client message (RFC 2131 4.3): DISCOVER,
//! REQUEST in its four states, RELEASE, DECLINE and INFORM. The server's
//! state, timers and the helpers these share are in `server.rs`.

use std::net::Ipv4Addr;
use std::time::Instant;

use chain::NetworkLeases;

use super::{duration_ms, Action, Client, Pending, Server, Txn};
use crate::codec::{ClientMessage, ReplyKind};
use crate::counters::{DropReason, Stat};
use crate::lease_store::{LeaseClaim, LeaseDecline, LeaseRelease};
use crate::options;
use crate::pool;

impl Server {
    pub(super) fn on_discover(
        &mut self,
        now: Instant,
        now_ms: u64,
        msg: &ClientMessage,
        client: Client,
        table: &NetworkLeases,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.counters.count(Stat::Discover);
        let txn = Txn::of(msg);
        if let Some(offer) = self.offers.get(&client.key) {
            if offer.probe_deadline.is_some() {
                // Answer the retransmission when the probe ends.
                if let Some(o) = self.offers.get_mut(&client.key) {
                    o.txn = txn;
                }
                return Ok(());
            }
            if self.free_for(table, offer.ip, &client, now_ms) {
                let ip = offer.ip;
                return self.offer_now(now, ip, txn, client, out);
            }
            self.remove_offer(&client.key);
        }
        let usable = |s: &Server, ip: Ipv4Addr| {
            s.free_for(table, ip, &client, now_ms) && s.locally_free(ip, &client)
        };
        // A reservation, then the client's own lease: no probe needed.
        let own = table
            .reservation_for(&client.mac_text)
            .filter(|ip| usable(self, *ip))
            .or_else(|| {
                table
                    .by_holder(&client.mac_text, client.id_hex.as_deref())
                    .map(|l| l.ip)
                    .filter(|ip| usable(self, *ip) && table.reserved_for(*ip).is_none())
            });
        if let Some(ip) = own {
            return self.offer_now(now, ip, txn, client, out);
        }
        let ip = self.candidate(now, now_ms, msg.requested_ip, &client, table)?;
        self.start_probe(now, ip, txn, client, 1, out)
    }

    /// The requested address if free, else a pool pick.
    pub(super) fn candidate(
        &self,
        now: Instant,
        now_ms: u64,
        requested: Option<Ipv4Addr>,
        client: &Client,
        table: &NetworkLeases,
    ) -> Result<Ipv4Addr, DropReason> {
        let fresh = |ip: Ipv4Addr| {
            self.free_for(table, ip, client, now_ms)
                && self.locally_free(ip, client)
                && !self.conflicts.in_use(ip, now)
                && table.reserved_for(ip).is_none()
        };
        requested
            .filter(|ip| fresh(*ip))
            .or_else(|| {
                pool::pick(
                    &self.cfg.subnet,
                    &client.key,
                    self.cfg.pool_scan_limit,
                    fresh,
                )
            })
            .ok_or(DropReason::PoolExhausted)
    }

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        now_ms: u64,
        msg: &ClientMessage,
        client: &Client,
        table: &NetworkLeases,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.counters.count(Stat::Request);
        let gateway = self.cfg.gateway_ip;
        // RFC 2131 4.3.2: which state the client is in.
        let ip = match (msg.server_id, msg.requested_ip) {
            (Some(sid), _) if sid != gateway => {
                // SELECTING another server's offer: withdraw ours.
                self.remove_offer(&client.key);
                return Err(DropReason::NotForUs);
            }
            (Some(_), Some(ip)) => ip, // SELECTING
            (None, Some(ip)) if msg.ciaddr.is_unspecified() => ip, // INIT-REBOOT
            (None, _) if !msg.ciaddr.is_unspecified() => {
                // RENEWING is unicast to us, REBINDING broadcast.
                if msg.dst_ip == Ipv4Addr::BROADCAST {
                    self.counters.count(Stat::Rebind);
                } else {
                    self.counters.count(Stat::Renew);
                }
                msg.ciaddr
            }
            _ => return Err(DropReason::MissingField),
        };
        let txn = Txn::of(msg);
        let reserved = table
            .reservation_for(&client.mac_text)
            .filter(|r| *r != ip && self.free_for(table, *r, client, now_ms));
        if !self.free_for(table, ip, client, now_ms) || !self.locally_free(ip, client) {
            let text = Some("requested address not available");
            self.send(ReplyKind::Nak, &txn, Ipv4Addr::UNSPECIFIED, None, text, out);
            return Ok(());
        }
        if reserved.is_some() {
            // The client has a reservation elsewhere: send it back to DISCOVER.
            let text = Some("client has a reserved address");
            self.send(ReplyKind::Nak, &txn, Ipv4Addr::UNSPECIFIED, None, text, out);
            return Ok(());
        }
        if let Some(p) = self.pending.get_mut(&client.key) {
            if p.ip == ip {
                p.txn = txn; // a retransmission: answer it when the chain does
                return Ok(());
            }
        }
        self.remove_pending(&client.key);
        if self.pending.len() >= self.cfg.max_pending {
            return Err(DropReason::PendingFull);
        }
        let lease_secs = options::lease_secs(self.cfg.lease_time);
        let claim = LeaseClaim {
            network: self.cfg.network.clone(),
            mac: client.mac,
            ip,
            client_id: msg.client_id.clone(),
            hostname: txn.hostname.clone(),
            node_id: self.cfg.node_id.clone(),
            at_ms: now_ms,
            expires_ms: now_ms.saturating_add(u64::from(lease_secs) * 1000),
        };
        self.remove_offer(&client.key);
        self.pending_ips.insert(ip, client.key.clone());
        self.pending.insert(
            client.key.clone(),
            Pending {
                claim: claim.id(),
                ip,
                txn,
                deadline: now + self.cfg.claim_timeout,
                lease_secs,
            },
        );
        self.counters.count(Stat::ClaimAppended);
        out.push(Action::Claim(claim));
        Ok(())
    }

    pub(super) fn on_release(
        &mut self,
        now_ms: u64,
        msg: &ClientMessage,
        client: &Client,
        table: &NetworkLeases,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.counters.count(Stat::Release);
        if msg.server_id.is_some_and(|s| s != self.cfg.gateway_ip) {
            return Err(DropReason::NotForUs);
        }
        self.remove_offer(&client.key);
        self.remove_pending(&client.key);
        let lease = table
            .by_holder(&client.mac_text, client.id_hex.as_deref())
            .filter(|l| l.ip == msg.ciaddr)
            .ok_or(DropReason::UnknownLease)?;
        out.push(Action::Release(LeaseRelease {
            network: self.cfg.network.clone(),
            mac: chain::validate::parse_mac(&lease.mac).unwrap_or(client.mac),
            ip: lease.ip,
            at_ms: now_ms,
        }));
        Ok(())
    }

    pub(super) fn on_decline(
        &mut self,
        now: Instant,
        now_ms: u64,
        msg: &ClientMessage,
        client: &Client,
        table: &NetworkLeases,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.counters.count(Stat::Decline);
        if msg.server_id.is_some_and(|s| s != self.cfg.gateway_ip) {
            return Err(DropReason::NotForUs);
        }
        let ip = msg.requested_ip.ok_or(DropReason::MissingField)?;
        let ours = self.offers.get(&client.key).is_some_and(|o| o.ip == ip)
            || self.pending.get(&client.key).is_some_and(|p| p.ip == ip)
            || table
                .by_holder(&client.mac_text, client.id_hex.as_deref())
                .is_some_and(|l| l.ip == ip);
        if !ours {
            return Err(DropReason::UnknownLease);
        }
        self.remove_offer(&client.key);
        self.remove_pending(&client.key);
        self.conflicts.mark(ip, now + self.cfg.decline_hold);
        out.push(Action::Decline(LeaseDecline {
            network: self.cfg.network.clone(),
            mac: client.mac,
            ip,
            at_ms: now_ms,
            until_ms: now_ms.saturating_add(duration_ms(self.cfg.decline_hold)),
        }));
        Ok(())
    }

    pub(super) fn on_inform(
        &mut self,
        msg: &ClientMessage,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.counters.count(Stat::Inform);
        if msg.ciaddr.is_unspecified() {
            return Err(DropReason::MissingField);
        }
        if !self.cfg.subnet.contains(msg.ciaddr) {
            return Err(DropReason::WrongNetwork);
        }
        // RFC 2131 4.3.5: no lease time, no yiaddr, unicast to ciaddr.
        let txn = Txn::of(msg);
        self.send(ReplyKind::Ack, &txn, Ipv4Addr::UNSPECIFIED, None, None, out);
        Ok(())
    }
}
