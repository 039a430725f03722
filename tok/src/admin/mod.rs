//! The admin commands: they write the chain directly (embedded store in the
//! data directory) and read it back folded. Nodes pick changes up from the
//! chain; no node needs to run for these commands.

pub mod key;
pub mod lease;
pub mod network;
pub mod publish;
pub mod route;
pub mod settings;
pub mod wss_url;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use chain::{AnyStore, Event, Follower, State, Store};

/// `--store SPEC` (or `ATENET_STORE`) of this run; unset or empty: the file
/// store in the data directory. Set once by `main` before any command runs.
static STORE_SPEC: OnceLock<String> = OnceLock::new();

/// Sets the store spec the admin commands open (see [`chain::open`]).
pub fn set_store_spec(spec: String) {
    let _ = STORE_SPEC.set(spec);
}

fn store_spec() -> &'static str {
    STORE_SPEC.get().map_or("", String::as_str)
}

/// The chain of one data directory, opened for reading and appending.
pub struct Chain {
    store: AnyStore,
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Opens (creating if needed) the chain `--store` names, by default the
    /// file store in `dir`.
    pub fn open(dir: &Path) -> Result<Chain> {
        Chain::open_spec(store_spec(), dir)
    }

    /// Opens the chain `spec` names (see [`chain::open`]); `dir` is the data
    /// directory.
    pub fn open_spec(spec: &str, dir: &Path) -> Result<Chain> {
        let store = chain::open(spec, dir).with_context(|| {
            if spec.trim().is_empty() {
                format!("opening the chain in data dir {}", dir.display())
            } else {
                format!("opening the chain (--store {spec})")
            }
        })?;
        Ok(Chain {
            store,
            dir: dir.to_owned(),
        })
    }

    /// Folds the whole log.
    pub fn state(&self) -> Result<State> {
        let mut follower = Follower::new();
        follower
            .poll(&self.store)
            .with_context(|| format!("reading the chain in {}", self.dir.display()))?;
        Ok(follower.state().clone())
    }

    /// Appends one event, then re-reads the chain and returns the state
    /// including it; `check` says whether the event took effect (another
    /// writer may have won a race for the same name or id).
    pub fn append(&self, ev: &Event, check: impl FnOnce(&State) -> bool) -> Result<State> {
        ev.validate().map_err(|e| anyhow!("{e}"))?;
        self.store
            .append(ev)
            .with_context(|| format!("appending to the chain in {}", self.dir.display()))?;
        let state = self.state()?;
        if !check(&state) {
            return Err(anyhow!(
                "the chain did not accept the change (another writer changed the same thing at the same time); run the command again"
            ));
        }
        Ok(state)
    }
}

/// Looks NETWORK (name or id) up; the error lists the networks that exist.
pub fn find_network<'a>(state: &'a State, network: &str) -> Result<&'a chain::Network> {
    state.network_by_name_or_id(network).ok_or_else(|| {
        let names: Vec<&str> = state.networks().map(|n| n.name.as_str()).collect();
        if names.is_empty() {
            anyhow!(
                "no network `{network}`: there are none yet (create one with `tok network create NAME --subnet CIDR`)"
            )
        } else {
            anyhow!(
                "no network `{network}`: expected a name or id of one of: {}",
                names.join(", ")
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs_open_the_file_store_or_say_why_not() {
        let data = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let spec = format!("file:{}", other.path().display());
        Chain::open_spec(&spec, data.path()).unwrap();
        assert!(other.path().join(chain::file_store::LOG_FILE).exists());
        assert!(!data.path().join(chain::file_store::LOG_FILE).exists());
        Chain::open_spec("", data.path()).unwrap();
        assert!(data.path().join(chain::file_store::LOG_FILE).exists());

        let e = format!(
            "{:#}",
            Chain::open_spec("etcd://127.0.0.1:2379", data.path()).unwrap_err()
        );
        assert!(
            e.contains("etcd store not built in this version (see issue 19); use file:PATH"),
            "{e}"
        );
        let e = format!("{:#}", Chain::open_spec("zk://x", data.path()).unwrap_err());
        assert!(
            e.contains("bad store `zk://x`") && e.contains("file:PATH"),
            "{e}"
        );
    }
}
