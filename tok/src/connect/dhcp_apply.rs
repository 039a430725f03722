//! Putting a DHCP lease on the tap the way a Linux system expects
//! (documented in tok/README.md, "`tok connect --dhcp`"):
//!
//! - `ip link set dev TAP mtu MTU` (option 26, clamped to 576..=1500);
//! - `ip addr replace ADDR/PREFIX broadcast + dev TAP valid_lft L preferred_lft L`
//!   (the kernel drops the address by itself if tok dies and stops renewing);
//! - `ip route replace default via ROUTER dev TAP metric 1024` (option 3);
//! - `/etc/resolv.conf` from option 6, with a `# written by tok connect
//!   --dhcp` header; the previous file comes back on exit.
//!
//! The command lines are pure functions of the lease (tested); an
//! [`Applier`] task runs them in order off the data path.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::args::MTU_RANGE;
use super::iproute;
use dhcp::client::{Lease, INFINITE};

/// Metric of the default route through the tap: above what distributions
/// give their uplinks (0..=600), so an existing default route, which may be
/// how the node is reached, is not replaced.
pub const DEFAULT_ROUTE_METRIC: u32 = 1024;

/// First line of a resolv.conf tok wrote.
pub const RESOLV_HEADER: &str = "# written by tok connect --dhcp";

/// The resolv.conf tok manages (inside `ip netns exec NS`, the bind mount
/// of `/etc/netns/NS/resolv.conf`).
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// `leased ADDR/PREFIX from SERVER (router R, dns D, mtu M, lease Ns)`.
pub fn summary(lease: &Lease) -> String {
    let router = lease
        .router
        .map_or_else(|| "none".to_owned(), |r| r.to_string());
    let dns = if lease.dns.is_empty() {
        "none".to_owned()
    } else {
        lease
            .dns
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mtu = lease
        .mtu
        .map_or_else(|| "unchanged".to_owned(), |m| clamp_mtu(m).to_string());
    let time = if lease.secs == INFINITE {
        "infinite".to_owned()
    } else {
        format!("{}s", lease.secs)
    };
    format!(
        "leased {}/{} from {} (router {router}, dns {dns}, mtu {mtu}, lease {time})",
        lease.addr, lease.prefix, lease.server
    )
}

/// Option 26 as a tap MTU: within what the wire carries (576..=1500).
pub fn clamp_mtu(mtu: u16) -> u16 {
    mtu.clamp(*MTU_RANGE.start(), *MTU_RANGE.end())
}

fn lifetime(lease: &Lease) -> String {
    if lease.secs == INFINITE {
        "forever".to_owned()
    } else {
        lease.secs.to_string()
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// The `ip` argument lists that configure `lease` on `tap`, in order. On a
/// renewal (`new` false) only the address lifetimes are refreshed.
pub fn bound_commands(tap: &str, lease: &Lease, new: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if new {
        if let Some(mtu) = lease.mtu {
            out.push(argv(&[
                "link",
                "set",
                "dev",
                tap,
                "mtu",
                &clamp_mtu(mtu).to_string(),
            ]));
        }
    }
    let life = lifetime(lease);
    out.push(argv(&[
        "addr",
        "replace",
        &format!("{}/{}", lease.addr, lease.prefix),
        "broadcast",
        "+",
        "dev",
        tap,
        "valid_lft",
        &life,
        "preferred_lft",
        &life,
    ]));
    if new {
        if let Some(router) = lease.router {
            out.push(argv(&[
                "route",
                "replace",
                "default",
                "via",
                &router.to_string(),
                "dev",
                tap,
                "metric",
                &DEFAULT_ROUTE_METRIC.to_string(),
            ]));
        }
    }
    out
}

/// The `ip` argument lists that stop using `lease` on `tap` (the default
/// route through it goes with the address).
pub fn lost_commands(tap: &str, lease: &Lease) -> Vec<Vec<String>> {
    vec![argv(&[
        "addr",
        "del",
        &format!("{}/{}", lease.addr, lease.prefix),
        "dev",
        tap,
    ])]
}

/// The resolv.conf for `lease`; `None` without DNS servers (the file is
/// left alone).
pub fn resolv_conf(tap: &str, lease: &Lease) -> Option<String> {
    if lease.dns.is_empty() {
        return None;
    }
    let mut text = format!(
        "{RESOLV_HEADER}\n# lease {}/{} on {tap} from {}; the previous file is restored when tok exits\n",
        lease.addr, lease.prefix, lease.server
    );
    for ip in lease.dns.iter().take(3) {
        let _ = writeln!(text, "nameserver {ip}");
    }
    Some(text)
}

/// What the loop asks the applier to do.
#[derive(Debug)]
pub enum Apply {
    Bound {
        lease: Lease,
        new: bool,
    },
    Lost(Lease),
    /// Restore resolv.conf (and drop `lease` if given), then answer.
    Shutdown {
        lease: Option<Lease>,
        done: oneshot::Sender<()>,
    },
}

/// Runs `ip` and writes resolv.conf, in order, on a blocking thread.
#[derive(Debug)]
pub struct Applier {
    tap: String,
    resolv: PathBuf,
    /// tok wrote resolv.conf (and restores `original` on exit).
    wrote: bool,
    /// The file as it was before tok first wrote it (`None`: it did not exist).
    original: Option<String>,
}

impl Applier {
    /// Starts the applier task for `tap`; returns where to send work.
    pub fn spawn(tap: String) -> mpsc::UnboundedSender<Apply> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Apply>();
        let mut applier = Applier {
            tap,
            resolv: PathBuf::from(RESOLV_CONF),
            wrote: false,
            original: None,
        };
        tokio::task::spawn_blocking(move || {
            while let Some(job) = rx.blocking_recv() {
                let stop = matches!(job, Apply::Shutdown { .. });
                applier.run(job);
                if stop {
                    return;
                }
            }
            applier.restore_resolv();
        });
        tx
    }

    fn run(&mut self, job: Apply) {
        match job {
            Apply::Bound { lease, new } => {
                for args in bound_commands(&self.tap, &lease, new) {
                    ip(&args);
                }
                if new {
                    if let Some(text) = resolv_conf(&self.tap, &lease) {
                        self.write_resolv(&text);
                    }
                }
            }
            Apply::Lost(lease) => {
                for args in lost_commands(&self.tap, &lease) {
                    ip(&args);
                }
            }
            Apply::Shutdown { lease, done } => {
                if let Some(lease) = lease {
                    for args in lost_commands(&self.tap, &lease) {
                        ip(&args);
                    }
                }
                self.restore_resolv();
                let _ = done.send(());
            }
        }
    }

    /// Writes resolv.conf in place (a bind mount cannot be renamed over).
    /// A symlink (systemd-resolved, resolvconf) is left alone: that system
    /// owns DNS.
    fn write_resolv(&mut self, text: &str) {
        let path = self.resolv.clone();
        if is_symlink(&path) {
            eprintln!(
                "note: {} is a symlink (managed by another service); not writing the DHCP DNS servers there",
                path.display()
            );
            return;
        }
        if !self.wrote {
            let old = std::fs::read_to_string(&path).ok();
            // A file tok left behind (killed) is not worth restoring.
            self.original = old.filter(|t| !t.starts_with(RESOLV_HEADER));
            self.wrote = true;
        }
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("warning: writing {}: {e}", path.display());
        }
    }

    fn restore_resolv(&mut self) {
        if !std::mem::take(&mut self.wrote) {
            return;
        }
        let original = self.original.take();
        let path = &self.resolv;
        let ours = std::fs::read_to_string(path).is_ok_and(|t| t.starts_with(RESOLV_HEADER));
        if !ours {
            return;
        }
        let result = match original {
            Some(text) => std::fs::write(path, text),
            None => std::fs::write(path, ""),
        };
        if let Err(e) = result {
            eprintln!("warning: restoring {}: {e}", path.display());
        }
    }
}

fn ip(args: &[String]) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = iproute::run_ip(&refs) {
        eprintln!("warning: {e:#}");
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            addr: Ipv4Addr::new(10, 1, 2, 50),
            prefix: 24,
            server: Ipv4Addr::new(10, 1, 2, 1),
            router: Some(Ipv4Addr::new(10, 1, 2, 1)),
            dns: vec![Ipv4Addr::new(10, 1, 2, 1), Ipv4Addr::new(10, 1, 2, 2)],
            mtu: Some(1380),
            secs: 3600,
        }
    }

    fn lines(cmds: &[Vec<String>]) -> Vec<String> {
        cmds.iter().map(|c| format!("ip {}", c.join(" "))).collect()
    }

    #[test]
    fn new_lease_commands() {
        assert_eq!(
            lines(&bound_commands("tok0", &lease(), true)),
            vec![
                "ip link set dev tok0 mtu 1380",
                "ip addr replace 10.1.2.50/24 broadcast + dev tok0 valid_lft 3600 preferred_lft 3600",
                "ip route replace default via 10.1.2.1 dev tok0 metric 1024",
            ]
        );
    }

    #[test]
    fn renewal_refreshes_lifetimes_only() {
        assert_eq!(
            lines(&bound_commands("t1", &lease(), false)),
            vec![
                "ip addr replace 10.1.2.50/24 broadcast + dev t1 valid_lft 3600 preferred_lft 3600"
            ]
        );
    }

    #[test]
    fn missing_options_and_limits() {
        let mut l = lease();
        l.router = None;
        l.mtu = Some(9000);
        l.secs = INFINITE;
        assert_eq!(
            lines(&bound_commands("tok0", &l, true)),
            vec![
                "ip link set dev tok0 mtu 1500",
                "ip addr replace 10.1.2.50/24 broadcast + dev tok0 valid_lft forever preferred_lft forever",
            ]
        );
        l.mtu = None;
        l.dns.clear();
        assert_eq!(bound_commands("tok0", &l, true).len(), 1);
        assert_eq!(resolv_conf("tok0", &l), None);
        assert_eq!(
            summary(&l),
            "leased 10.1.2.50/24 from 10.1.2.1 (router none, dns none, mtu unchanged, lease infinite)"
        );
        assert_eq!(clamp_mtu(100), 576);
    }

    #[test]
    fn lost_commands_remove_the_address() {
        assert_eq!(
            lines(&lost_commands("tok0", &lease())),
            vec!["ip addr del 10.1.2.50/24 dev tok0"]
        );
    }

    #[test]
    fn summary_and_resolv_conf() {
        assert_eq!(
            summary(&lease()),
            "leased 10.1.2.50/24 from 10.1.2.1 (router 10.1.2.1, dns 10.1.2.1 10.1.2.2, mtu 1380, lease 3600s)"
        );
        let text = resolv_conf("tok0", &lease()).unwrap();
        assert!(text.starts_with(RESOLV_HEADER), "{text}");
        assert!(
            text.ends_with("nameserver 10.1.2.1\nnameserver 10.1.2.2\n"),
            "{text}"
        );
    }

    #[test]
    fn resolv_conf_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.53\n").unwrap();
        let mut a = Applier {
            tap: "tok0".into(),
            resolv: path.clone(),
            wrote: false,
            original: None,
        };
        a.write_resolv(&resolv_conf("tok0", &lease()).unwrap());
        a.write_resolv(&resolv_conf("tok0", &lease()).unwrap());
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with(RESOLV_HEADER));
        a.restore_resolv();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.53\n"
        );

        // A symlink is not followed.
        let target = dir.path().join("stub");
        std::fs::write(&target, "nameserver 127.0.0.53\n").unwrap();
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut a = Applier {
            tap: "tok0".into(),
            resolv: link,
            wrote: false,
            original: None,
        };
        a.write_resolv(&resolv_conf("tok0", &lease()).unwrap());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "nameserver 127.0.0.53\n"
        );
    }
}
