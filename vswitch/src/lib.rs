//! The switch core of atenet: sessions and the wire format (who may speak,
//! and how their bytes are sealed), and the forwarding decision (where a
//! frame goes). Sans-IO: the caller passes bytes, `now` and randomness in and
//! moves the bytes this crate writes; nothing here touches a socket or clock.
//!
//! Table of contents:
//! - Sessions and wire format (see `WIRE.md`): [`key`], [`wire`], [`seal`],
//!   [`replay`], [`handshake`], [`endpoint`], [`control`].
//! - Compatibility between versions: `docs/versioning.md`.
//! - Forwarding (see DESIGN.md, "How a frame travels"): [`port`], [`storm`],
//!   [`switch`].

// --- sessions and wire format (owned by the sessions work) ---
pub mod control;
pub mod endpoint;
pub mod handshake;
pub mod key;
pub mod replay;
pub mod seal;
pub mod wire;

// --- forwarding (owned by the switch work) ---
pub mod port;
pub mod storm;
pub mod switch;
