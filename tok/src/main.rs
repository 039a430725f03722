//! `tok`: the atenet user CLI. Admin commands write the chain in the data
//! directory; `tok status` asks the running nodes; `tok connect` joins this
//! machine to a network through a tap device. See README.md.

mod admin;
mod cidr;
mod connect;
mod data_dir;
mod status;
mod table;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tok",
    version,
    about = "atenet CLI: manage networks, access keys, routes and DHCP reservations, show node status, connect this machine with a tap",
    after_help = "Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the chain lives: shared by every admin command.
#[derive(Debug, Args)]
struct DataDirArg {
    /// Data directory of the embedded chain (the same one `atenet serve` uses).
    /// Default: /var/lib/atenet as root, else $HOME/.local/state/atenet.
    #[arg(long, global = true, value_name = "DIR", env = "ATENET_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// Which chain the admin commands read and write.
#[derive(Debug, Args)]
struct StoreArg {
    /// The chain store, as `atenet serve --store`: `file:PATH`,
    /// `etcd://HOST:PORT[,HOST:PORT...]` (not built in this version), or
    /// empty/`default` for the file store in the data directory.
    #[arg(long, global = true, value_name = "SPEC", env = "ATENET_STORE")]
    store: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list and configure networks.
    Network {
        #[command(flatten)]
        dir: DataDirArg,
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Issue, list and revoke access keys of a network.
    Key {
        #[command(flatten)]
        dir: DataDirArg,
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Add, remove and list routes between networks (the gateways route IPv4 between them).
    Route {
        #[command(flatten)]
        dir: DataDirArg,
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// DHCP reservations and the leases nodes handed out.
    Lease {
        #[command(flatten)]
        dir: DataDirArg,
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        command: LeaseCommand,
    },
    /// Publish ports: TCP/UDP to a host port of the node a client is attached to reaches the client.
    Publish {
        #[command(flatten)]
        dir: DataDirArg,
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        command: PublishCommand,
    },
    /// Show running nodes, their peers, networks, clients and drop counters.
    Status {
        #[command(flatten)]
        dir: DataDirArg,
        /// Print each node's raw JSON document instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Join this machine to a network: create a tap and carry its frames to a node.
    Connect(connect::ConnectArgs),
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Create a network; prints its id.
    Create {
        /// Unique name, e.g. `office`.
        name: String,
        /// The network's IPv4 subnet, e.g. 10.1.2.0/24 (may not overlap another network).
        #[arg(long, value_name = "CIDR")]
        subnet: String,
    },
    /// List networks.
    List,
    /// Change a setting: mtu 576..=9000, lease-time 1h, nat on|off, ipv6-prefix fd00:1::/64,
    /// nat-allow CIDR[,CIDR...]|none (replaces the list).
    Set {
        /// Network name or id.
        network: String,
        /// mtu, lease-time, nat, ipv6-prefix or nat-allow.
        setting: String,
        value: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Issue a new access key; prints the `ate1...` string to give to `tok connect --key`.
    Issue {
        /// Network name or id.
        network: String,
        /// Who or what the key is for (shown by `tok key list`), e.g. `alice-laptop`.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
    /// List a network's key ids and whether they are revoked (never the secrets).
    List {
        /// Network name or id.
        network: String,
    },
    /// Revoke a key: its sessions end on every node and new ones are refused.
    Revoke {
        /// Network name or id.
        network: String,
        /// Key id (8 hex digits, as `tok key list` shows).
        key_id: String,
    },
    /// Print the URL a browser joins with: wss://NODE/ws/TOKEN (the token is
    /// derived from the key, never the key itself).
    WssUrl {
        /// Network name or id.
        network: String,
        /// Key id (8 hex digits, as `tok key list` shows).
        key_id: String,
        /// HOST:PORT of the node's `atenet serve --wss`.
        #[arg(long, value_name = "HOST:PORT")]
        node: String,
        /// Print the node's page with the token prefilled (https://NODE/#TOKEN).
        #[arg(long)]
        page: bool,
        /// The node runs `--wss-insecure-plain-http`: ws:// and http://.
        #[arg(long)]
        insecure_plain: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Route IPv4 between two networks (both directions).
    Add {
        /// Network name or id.
        network: String,
        /// The other network's name or id (its subnet may not overlap the first).
        other_network: String,
    },
    /// Remove the route between two networks.
    Del {
        /// Network name or id.
        network: String,
        /// The other network's name or id.
        other_network: String,
    },
    /// List routes.
    List,
}

#[derive(Debug, Subcommand)]
enum LeaseCommand {
    /// Reserve an address for a MAC: it always gets this address, nobody else does.
    Reserve {
        /// Network name or id.
        network: String,
        /// The client's MAC, e.g. 02:00:00:00:00:01.
        mac: String,
        /// An address inside the network's subnet (not its network, broadcast or gateway address).
        ip: String,
    },
    /// Remove a MAC's reservation.
    Unreserve {
        /// Network name or id.
        network: String,
        /// The client's MAC.
        mac: String,
    },
    /// List a network's leases (ip, mac, hostname, node, expiry) and reservations.
    List {
        /// Network name or id.
        network: String,
    },
}

#[derive(Debug, Subcommand)]
enum PublishCommand {
    /// Publish a host port: inbound PROTO traffic to HOST_PORT of the node the
    /// client is attached to reaches CLIENT_IP:PORT (the listener moves with the client).
    Add {
        /// Network name or id.
        network: String,
        /// tcp or udp.
        proto: String,
        /// 1..=65535; published at most once per protocol in the whole chain.
        host_port: String,
        /// The client's address in the network's subnet and its port, e.g. 10.1.2.9:80.
        client: String,
    },
    /// Remove a published port (protocol and host port name it; a CLIENT_IP:PORT given is ignored).
    Del {
        /// Network name or id.
        network: String,
        /// tcp or udp.
        proto: String,
        /// The published host port.
        host_port: String,
        /// Ignored (accepted so that an `add` line can be repeated as `del`).
        client: Option<String>,
    },
    /// List a network's published ports.
    List {
        /// Network name or id.
        network: String,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Network {
            dir,
            store,
            command,
        } => {
            admin::set_store_spec(store.store.unwrap_or_default());
            let dir = data_dir::resolve(dir.data_dir)?;
            match command {
                NetworkCommand::Create { name, subnet } => {
                    admin::network::create(&dir, &name, &subnet)
                }
                NetworkCommand::List => admin::network::list(&dir),
                NetworkCommand::Set {
                    network,
                    setting,
                    value,
                } => admin::network::set(&dir, &network, &setting, &value),
            }
        }
        Command::Key {
            dir,
            store,
            command,
        } => {
            admin::set_store_spec(store.store.unwrap_or_default());
            let dir = data_dir::resolve(dir.data_dir)?;
            match command {
                KeyCommand::Issue { network, label } => {
                    admin::key::issue(&dir, &network, label.as_deref())
                }
                KeyCommand::List { network } => admin::key::list(&dir, &network),
                KeyCommand::Revoke { network, key_id } => {
                    admin::key::revoke(&dir, &network, &key_id)
                }
                KeyCommand::WssUrl {
                    network,
                    key_id,
                    node,
                    page,
                    insecure_plain,
                } => {
                    let form = if page {
                        admin::wss_url::Form::Page
                    } else {
                        admin::wss_url::Form::Websocket
                    };
                    admin::wss_url::print(&dir, &network, &key_id, &node, form, insecure_plain)
                }
            }
        }
        Command::Route {
            dir,
            store,
            command,
        } => {
            admin::set_store_spec(store.store.unwrap_or_default());
            let dir = data_dir::resolve(dir.data_dir)?;
            match command {
                RouteCommand::Add {
                    network,
                    other_network,
                } => admin::route::add(&dir, &network, &other_network),
                RouteCommand::Del {
                    network,
                    other_network,
                } => admin::route::del(&dir, &network, &other_network),
                RouteCommand::List => admin::route::list(&dir),
            }
        }
        Command::Lease {
            dir,
            store,
            command,
        } => {
            admin::set_store_spec(store.store.unwrap_or_default());
            let dir = data_dir::resolve(dir.data_dir)?;
            match command {
                LeaseCommand::Reserve { network, mac, ip } => {
                    admin::lease::reserve(&dir, &network, &mac, &ip)
                }
                LeaseCommand::Unreserve { network, mac } => {
                    admin::lease::unreserve(&dir, &network, &mac)
                }
                LeaseCommand::List { network } => admin::lease::list(&dir, &network),
            }
        }
        Command::Publish {
            dir,
            store,
            command,
        } => {
            admin::set_store_spec(store.store.unwrap_or_default());
            let dir = data_dir::resolve(dir.data_dir)?;
            match command {
                PublishCommand::Add {
                    network,
                    proto,
                    host_port,
                    client,
                } => admin::publish::add(&dir, &network, &proto, &host_port, &client),
                PublishCommand::Del {
                    network,
                    proto,
                    host_port,
                    client: _,
                } => admin::publish::del(&dir, &network, &proto, &host_port),
                PublishCommand::List { network } => admin::publish::list(&dir, &network),
            }
        }
        Command::Status { dir, json } => status::run(&data_dir::resolve(dir.data_dir)?, json),
        Command::Connect(args) => connect::run(args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_commands() {
        let p =
            |args: &[&str]| Cli::try_parse_from(std::iter::once("tok").chain(args.iter().copied()));
        assert!(p(&["network", "create", "office", "--subnet", "10.1.2.0/24"]).is_ok());
        assert!(p(&[
            "network",
            "create",
            "office",
            "--subnet",
            "10.1.2.0/24",
            "--data-dir",
            "/tmp/x"
        ])
        .is_ok());
        assert!(p(&["network", "--data-dir", "/tmp/x", "list"]).is_ok());
        let Ok(Cli {
            command: Command::Key { store, .. },
        }) = p(&["key", "list", "office", "--store", "file:/tmp/chain"])
        else {
            panic!("--store parses on admin commands");
        };
        assert_eq!(store.store.as_deref(), Some("file:/tmp/chain"));
        assert!(p(&["route", "--store", "etcd://h:2379", "list"]).is_ok());
        assert!(p(&["network", "set", "office", "mtu", "1380"]).is_ok());
        assert!(p(&["key", "issue", "office"]).is_ok());
        assert!(p(&["key", "list", "office"]).is_ok());
        assert!(p(&["key", "revoke", "office", "0badc0de"]).is_ok());
        assert!(p(&["status", "--json"]).is_ok());
        assert!(p(&["route", "add", "office", "lab"]).is_ok());
        assert!(p(&["route", "del", "office", "lab"]).is_ok());
        assert!(p(&["route", "list"]).is_ok());
        assert!(p(&["route", "add", "office"]).is_err());
        assert!(p(&[
            "lease",
            "reserve",
            "office",
            "02:00:00:00:00:01",
            "10.1.2.9"
        ])
        .is_ok());
        assert!(p(&["lease", "unreserve", "office", "02:00:00:00:00:01"]).is_ok());
        assert!(p(&["lease", "list", "office"]).is_ok());
        assert!(p(&["lease", "list"]).is_err());
        assert!(p(&["connect", "198.18.0.1", "--key", "k", "--dhcp"]).is_ok());
        assert!(
            p(&[
                "connect",
                "198.18.0.1",
                "--key",
                "k",
                "--dhcp",
                "--address",
                "10.1.2.5/24"
            ])
            .is_err(),
            "--dhcp and --address are exclusive"
        );
        assert!(p(&[
            "connect",
            "198.18.0.1:7370,198.18.0.2",
            "--key",
            "ate1x",
            "--tap",
            "t1",
            "--address",
            "10.1.2.5/24",
            "--mtu",
            "1400"
        ])
        .is_ok());
        assert!(p(&["connect", "198.18.0.1", "--key", "ate1x", "--mtu", "9000"]).is_err());
        assert!(p(&["connect", "198.18.0.1"]).is_err(), "--key is required");
        assert!(
            p(&["network", "create", "office"]).is_err(),
            "--subnet is required"
        );
        assert!(p(&[
            "connect",
            "198.18.0.1",
            "--key",
            "k",
            "--address",
            "10.1.2.5"
        ])
        .is_err());
    }
}
