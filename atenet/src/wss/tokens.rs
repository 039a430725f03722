//! Which access key a wss token stands for: the table of every live client
//! key of every network, rebuilt whenever the chain state changes, so a
//! revoked key's token is refused (401) from the next state on.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chain::State;
use subtle::ConstantTimeEq;
use vswitch::key::{AccessKey, ChainId, KeyId, WSS_TOKEN_PREFIX};

/// `(network, key id)` -> the key's wss secret.
#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    secrets: HashMap<(ChainId, KeyId), [u8; 32]>,
}

impl TokenTable {
    /// Every live client key of every network in `state` (node keys are
    /// never browser credentials).
    pub(crate) fn from_state(state: &State) -> Self {
        let mut secrets = HashMap::new();
        for net in state.networks() {
            let Some(chain) = crate::network::parse_chain_id(&net.id) else {
                continue;
            };
            for (key_id, key) in net.live_keys() {
                let mut secret = [0u8; 32];
                if key_id == net.node_key_id
                    || hex::decode_to_slice(&key.secret, &mut secret).is_err()
                {
                    continue;
                }
                let key = AccessKey {
                    chain_id: chain,
                    key_id: KeyId(key_id),
                    secret,
                };
                secrets.insert((chain, key.key_id), key.wss_secret());
            }
        }
        Self { secrets }
    }

    /// The key `token` was derived from, if it is live (WIRE.md: the
    /// derived secret compared in constant time).
    pub(crate) fn check(&self, token: &str) -> Option<(ChainId, KeyId)> {
        let body = token.strip_prefix(WSS_TOKEN_PREFIX)?;
        if body.len() != 70 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
        let chain = ChainId(bytes.get(..16)?.try_into().ok()?);
        let key_id = KeyId(u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?));
        let expected = self.secrets.get(&(chain, key_id))?;
        bool::from(expected.ct_eq(bytes.get(20..52)?)).then_some((chain, key_id))
    }

    pub(crate) fn len(&self) -> usize {
        self.secrets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::Event;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn live_tokens_pass_and_revoked_or_forged_fail() {
        let mut rng = StdRng::seed_from_u64(7);
        let chain = ChainId([9; 16]);
        let key = AccessKey::generate(chain, &mut rng);
        let node = AccessKey::generate(chain, &mut rng);
        let network = hex::encode(chain.0);
        let mut state = State::default();
        for event in [
            Event::NetworkCreated {
                network: network.clone(),
                name: "n".into(),
                subnet: "10.9.0.0/24".into(),
                node_key_id: node.key_id.0,
                node_secret: hex::encode(node.secret),
            },
            Event::KeyIssued {
                network: network.clone(),
                key_id: key.key_id.0,
                secret: hex::encode(key.secret),
                label: None,
            },
        ] {
            state.apply(&event);
        }
        let table = TokenTable::from_state(&state);
        assert_eq!(table.check(&key.wss_token()), Some((chain, key.key_id)));
        assert_eq!(
            table.check(&node.wss_token()),
            None,
            "node keys are not browser keys"
        );
        let mut forged = key.wss_token();
        forged.pop();
        forged.push(if key.wss_token().ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert_eq!(table.check(&forged), None);
        assert_eq!(table.check("atw1"), None);
        assert_eq!(
            table.check(&key.to_string()),
            None,
            "the key itself is no token"
        );
        state.apply(&Event::KeyRevoked {
            network,
            key_id: key.key_id.0,
        });
        assert_eq!(TokenTable::from_state(&state).check(&key.wss_token()), None);
    }
}
