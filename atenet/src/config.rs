//! The command line (`atenet serve ...`) and the defaults it resolves to.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::host;

/// The UDP port a node listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7370;

#[derive(Debug, Parser)]
#[command(
    name = "atenet",
    version,
    about = "atenet node: a distributed virtual Ethernet switch and VPN"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: carry encrypted Ethernet between `tok connect` clients
    /// and the other nodes that share this node's chain.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
#[allow(clippy::struct_field_names)]
pub struct ServeArgs {
    /// Directory of the embedded chain and of the status sockets.
    /// Default: $ATENET_DATA_DIR, else /var/lib/atenet when run as root,
    /// else $HOME/.local/state/atenet.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// UDP address to listen on for clients and peer nodes.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7370")]
    pub listen: SocketAddr,

    /// Address other nodes use to reach this one (written to the chain).
    /// Default: the listen address when it is not a wildcard, otherwise
    /// the first non-loopback IPv4 address of the host with the listen port.
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<SocketAddr>,

    /// Serve Prometheus metrics over HTTP on this TCP address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Where the chain lives: `file:PATH`, or empty/`default` for the
    /// file store in the data directory (`etcd://HOST:PORT,...` is refused
    /// by this build). Default: $ATENET_STORE, else the data directory.
    #[arg(long, value_name = "SPEC", env = "ATENET_STORE")]
    pub store: Option<String>,

    /// Serve browsers on this TCP address: the page at https://ADDR/ and
    /// websocket clients at wss://ADDR/ws/TOKEN (`tok key wss-url`).
    #[arg(long, value_name = "ADDR")]
    pub wss: Option<SocketAddr>,

    /// PEM certificate chain for --wss. Default: a self-signed certificate
    /// made once and kept in the data dir (wss-cert.pem, wss-key.pem).
    #[arg(long, value_name = "PEM", requires = "tls_key", requires = "wss")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve --wss as plain ws:// and http:// without TLS. INSECURE: tokens
    /// and frames cross the wire readable; only for tests or behind a
    /// TLS-terminating proxy.
    #[arg(long, requires = "wss", conflicts_with = "tls_cert")]
    pub wss_insecure_plain_http: bool,

    /// Most websocket clients served at once.
    #[arg(long, value_name = "N", default_value_t = crate::wss::DEFAULT_MAX_CLIENTS)]
    pub wss_max_clients: usize,

    /// A resolver the gateways forward clients' DNS queries to: an IPv4
    /// address, optionally with a port (default 53). Repeatable. Default:
    /// the IPv4 `nameserver` lines of /etc/resolv.conf. With none, the
    /// gateways answer SERVFAIL (there is no built-in public resolver).
    #[arg(long, value_name = "ADDR")]
    pub dns: Vec<String>,

    /// Caps every NAT idle and closing timer (UDP 60 s, echo 30 s, TCP
    /// idle 2 h, TCP after FIN 60 s) at SECS: for tests that watch the
    /// flow table drain.
    #[arg(long, value_name = "SECS", hide = true)]
    pub nat_idle: Option<u64>,

    /// Not supported yet by this build (configuration file).
    #[arg(long, value_name = "FILE", hide = true)]
    pub config: Option<PathBuf>,
}

/// What `atenet serve` runs with, every default resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `--store` / `ATENET_STORE` as given (see `chain::open`); empty: the
    /// file store in `data_dir`.
    pub store: String,
    pub listen: SocketAddr,
    pub advertise: SocketAddr,
    pub metrics: Option<SocketAddr>,
    /// `--wss` and its TLS settings; `None`: no browser clients.
    pub wss: Option<crate::wss::WssConfig>,
    /// `--dns` resolvers; empty: those of /etc/resolv.conf.
    pub dns: Vec<SocketAddr>,
    /// `--nat-idle`: a cap on the NAT flows' idle and closing timers.
    pub nat_idle: Option<std::time::Duration>,
}

impl ServeArgs {
    /// Resolves defaults from the environment and the host.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let unsupported = [("--config", self.config.is_some())];
        if let Some((flag, _)) = unsupported.iter().find(|(_, given)| *given) {
            bail!("{flag} is not supported yet by this build; accepted: --data-dir, --store, --listen, --advertise, --metrics, --wss, --dns");
        }
        let dns = self
            .dns
            .iter()
            .map(|addr| parse_dns(addr))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let data_dir = match self.data_dir {
            Some(dir) => dir,
            None => default_data_dir(
                std::env::var_os("ATENET_DATA_DIR").map(PathBuf::from),
                host::euid() == 0,
                std::env::var_os("HOME").map(PathBuf::from),
            )?,
        };
        let store = self.store.unwrap_or_default();
        // Refused here, before anything starts, with the forms accepted.
        chain::StoreSpec::parse(&store, &data_dir)?;
        let advertise = match self.advertise {
            Some(addr) => addr,
            None => {
                default_advertise(self.listen, host::first_non_loopback_ipv4().map(IpAddr::V4))?
            }
        };
        if advertise.ip().is_unspecified() || advertise.port() == 0 {
            bail!("--advertise {advertise} cannot be reached by other nodes; give an address with a host and a port, e.g. 198.18.0.1:{DEFAULT_PORT}");
        }
        let wss = self.wss.map(|addr| crate::wss::WssConfig {
            addr,
            tls: match (self.tls_cert, self.tls_key) {
                _ if self.wss_insecure_plain_http => crate::wss::WssTls::InsecurePlain,
                (Some(cert), Some(key)) => crate::wss::WssTls::Files { cert, key },
                _ => crate::wss::WssTls::SelfSigned,
            },
            max_clients: self.wss_max_clients.max(1),
        });
        Ok(Config {
            wss,
            dns,
            nat_idle: self
                .nat_idle
                .map(|secs| std::time::Duration::from_secs(secs.max(1))),
            data_dir,
            store,
            listen: self.listen,
            advertise,
            metrics: self.metrics,
        })
    }
}

/// A `--dns` value: `IPV4` or `IPV4:PORT`.
pub fn parse_dns(value: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(ip) = value.parse::<std::net::Ipv4Addr>() {
        return Ok(SocketAddr::from((ip, 53)));
    }
    match value.parse::<SocketAddr>() {
        Ok(addr @ SocketAddr::V4(_)) if addr.port() != 0 => Ok(addr),
        _ => bail!("--dns {value:?}: give an IPv4 resolver address, optionally with a port (e.g. 192.0.2.53 or 127.0.0.1:5353)"),
    }
}

/// `$ATENET_DATA_DIR`, else `/var/lib/atenet` for root, else
/// `$HOME/.local/state/atenet`.
pub fn default_data_dir(
    env: Option<PathBuf>,
    is_root: bool,
    home: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = env.filter(|dir| !dir.as_os_str().is_empty()) {
        return Ok(dir);
    }
    if is_root {
        return Ok(PathBuf::from("/var/lib/atenet"));
    }
    let home = home
        .filter(|home| !home.as_os_str().is_empty())
        .context("no --data-dir, ATENET_DATA_DIR or HOME: give --data-dir DIR")?;
    Ok(home.join(".local/state/atenet"))
}

/// The listen address when it names a host; behind a wildcard, the host's
/// first non-loopback IPv4 address with the listen port.
pub fn default_advertise(
    listen: SocketAddr,
    host_ip: Option<IpAddr>,
) -> anyhow::Result<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return Ok(listen);
    }
    let ip = host_ip.context(
        "--listen is a wildcard and the host has no non-loopback IPv4 address: give --advertise ADDR",
    )?;
    Ok(SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_defaults_in_documented_order() {
        let env = Some(PathBuf::from("/srv/ate"));
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            default_data_dir(env, true, home.clone()).unwrap(),
            PathBuf::from("/srv/ate")
        );
        assert_eq!(
            default_data_dir(None, true, home.clone()).unwrap(),
            PathBuf::from("/var/lib/atenet")
        );
        assert_eq!(
            default_data_dir(None, false, home).unwrap(),
            PathBuf::from("/home/u/.local/state/atenet")
        );
        assert!(default_data_dir(None, false, None).is_err());
    }

    #[test]
    fn advertise_defaults_to_listen_or_host_address() {
        let listen: SocketAddr = "198.18.0.1:7370".parse().unwrap();
        assert_eq!(default_advertise(listen, None).unwrap(), listen);
        let wildcard: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        let host: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(
            default_advertise(wildcard, Some(host)).unwrap(),
            "192.0.2.5:9000".parse().unwrap()
        );
        assert!(default_advertise(wildcard, None).is_err());
    }

    #[test]
    fn later_flags_are_refused_with_a_message() {
        let cli = Cli::try_parse_from([
            "atenet",
            "serve",
            "--config",
            "x.toml",
            "--advertise",
            "192.0.2.1:7370",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("--config"), "{err}");
    }

    #[test]
    fn dns_flags_parse() {
        assert_eq!(
            parse_dns("192.0.2.53").unwrap(),
            "192.0.2.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert!(parse_dns("::1").is_err());
        assert!(parse_dns("resolver").is_err());
        let cli = Cli::try_parse_from([
            "atenet",
            "serve",
            "--dns",
            "192.0.2.53",
            "--dns",
            "192.0.2.54:5353",
            "--advertise",
            "192.0.2.1:7370",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.resolve().unwrap().dns.len(), 2);
    }

    fn resolve_store(store: &str) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from([
            "atenet",
            "serve",
            "--store",
            store,
            "--advertise",
            "192.0.2.1:7370",
            "--data-dir",
            "/tmp/x",
        ])?;
        let Command::Serve(args) = cli.command;
        args.resolve()
    }

    #[test]
    fn store_spec_is_checked_before_start() {
        assert_eq!(
            resolve_store("file:/srv/chain").unwrap().store,
            "file:/srv/chain"
        );
        assert_eq!(resolve_store("").unwrap().store, "");
        let err = format!("{:#}", resolve_store("zookeeper://h:1").unwrap_err());
        assert!(
            err.contains("zookeeper://h:1") && err.contains("file:PATH"),
            "{err}"
        );
    }

    #[test]
    fn help_mentions_defaults() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("/var/lib/atenet") && help.contains("0.0.0.0:7370"),
            "{help}"
        );
    }
}
