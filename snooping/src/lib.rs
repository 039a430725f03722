//! snooping
