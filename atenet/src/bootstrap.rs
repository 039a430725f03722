//! First run: on a store with no network, create network `default` on a
//! random /24 of 10.0.0.0/8 that overlaps no route of the host, and issue
//! one access key for the `tok connect` line the node prints
//! (DESIGN.md, "What users type").

use anyhow::Context;
use chain::{Event, Follower, Store};
use rand::{CryptoRng, RngCore};
use vswitch::key::{AccessKey, ChainId};

use crate::host;

/// The name of the network a first run creates.
pub const DEFAULT_NETWORK: &str = "default";
/// The label of the key a first run issues (shown by `tok key list`).
const FIRST_KEY_LABEL: &str = "first-run";

/// Creates network `default` and a key if the store holds no network yet.
/// Returns the key, or `None` when there was a network already (or another
/// node created `default` at the same moment and won).
pub fn bootstrap(
    store: &dyn Store,
    rng: &mut (impl RngCore + CryptoRng),
) -> anyhow::Result<Option<AccessKey>> {
    let mut follower = Follower::new();
    follower.poll(store).context("reading the chain")?;
    if follower.state().networks().next().is_some() {
        return Ok(None);
    }
    let subnet = host::pick_subnet(&host::routes(), rng)
        .context("every /24 of 10.0.0.0/8 overlaps a route of this host; create a network with `tok network create NAME --subnet CIDR`")?;
    let chain_id = ChainId::generate(rng);
    let network = hex::encode(chain_id.0);
    let node_key_id = rng.next_u32();
    let mut node_secret = [0u8; 32];
    rng.fill_bytes(&mut node_secret);
    store
        .append(&Event::NetworkCreated {
            network: network.clone(),
            name: DEFAULT_NETWORK.to_owned(),
            subnet: subnet.to_string(),
            node_key_id,
            node_secret: hex::encode(node_secret),
        })
        .context("creating network default")?;
    let key = loop {
        let key = AccessKey::generate(chain_id, rng);
        if key.key_id.0 != node_key_id {
            break key;
        }
    };
    store
        .append(&Event::KeyIssued {
            network: network.clone(),
            key_id: key.key_id.0,
            secret: hex::encode(key.secret),
            label: Some(FIRST_KEY_LABEL.to_owned()),
        })
        .context("issuing the first access key")?;
    // Two nodes starting on one empty store at once both get here; the
    // chain keeps the first `default` and ignores the other.
    follower.poll(store).context("reading the chain")?;
    let ours = follower
        .state()
        .network(&network)
        .is_some_and(|net| net.live_keys().any(|(id, _)| id == key.key_id.0));
    if !ours {
        return Ok(None);
    }
    tracing::info!(network = %network, %subnet, "first run: created network default");
    Ok(Some(key))
}
