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

use anyhow::{anyhow, Context, Result};
use chain::{Event, FileStore, Follower, State, Store};

/// The chain of one data directory, opened for reading and appending.
pub struct Chain {
    store: FileStore,
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
    /// Opens (creating if needed) the chain in `dir`.
    pub fn open(dir: &Path) -> Result<Chain> {
        let store = FileStore::open(dir)
            .with_context(|| format!("opening the chain in data dir {}", dir.display()))?;
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
