//! Control message types: the first byte of a sealed `Control` payload.
//!
//! The endpoint delivers a control message only if its type is listed here;
//! any other (a newer peer's message, or an empty payload) is authenticated,
//! keeps the session alive, and is then dropped as
//! [`crate::endpoint::PacketDrop::UnknownControl`], so a new control message
//! can be sent to an old node safely (docs/versioning.md). A new type is
//! added here, and to `docs/internals.md`, before anyone sends it.

/// "Hello, I am NODE_ID": `0x01 ‖ node id (8, BE)`, sent by both nodes when
/// a peer session comes up (docs/internals.md).
pub const HELLO: u8 = 1;

/// Every control type this version understands.
pub const KNOWN: [u8; 1] = [HELLO];

/// Whether a control payload starts with a type this version understands.
pub fn is_known(payload: &[u8]) -> bool {
    payload.first().is_some_and(|ty| KNOWN.contains(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_types_are_known() {
        assert!(is_known(&[HELLO, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(!is_known(&[]));
        assert!(!is_known(&[0]));
        assert!(!is_known(&[0x7f, 1, 2]));
    }
}
