//! Ephemeral, TTL'd state beside the event log: what changes often and must
//! not grow the log (which client or device is on which node, node
//! diagnostics, session checkpoints).
//!
//! Sans-IO: the caller passes the time (`now`, ms on its own clock) and
//! carries deltas between nodes over their sessions; nothing here reads a
//! clock, a socket or a file. On the file store it lives in memory only (no
//! fsync per change; a restarted node relearns it from its peers and its
//! own clients). On etcd it will map to keys under leases (a later issue).
//!
//! - Every entry has an origin node and a version; a write replaces the
//!   current entry of its key when its `(version, origin)` is larger
//!   (last writer wins). Versions are a Lamport clock: a put takes a version
//!   above every version this replica has seen, so a write made after
//!   seeing another wins over it, and two replicas that exchanged every
//!   delta hold the same entries whatever the order.
//! - [`Ephemeral::remove`] writes a tombstone (kept [`Limits::tombstone_ttl_ms`])
//!   so that the removal travels like a write.
//! - TTLs travel as time left, so clocks of nodes need not agree.
//! - Caps: entries in all, entries per origin, key and value length, TTL
//!   (longer ones are cut to [`Limits::max_ttl_ms`]).
//! - Exchange: a node sends its [`VersionVector`] (highest version seen per
//!   origin); the peer answers [`Ephemeral::delta_since`], the node applies
//!   it with [`Ephemeral::apply_delta`]. A malformed delta is dropped whole
//!   and counted; entries over the caps are dropped and counted.
//!
//! Delta encoding (all integers big-endian):
//! ```text
//! "ATEPH" | format u8 = 1 | count u32 | count x entry
//! entry:  origin u64 | version u64 | ttl_left_ms u64 | flags u8 (bit 0: tombstone)
//!         | key_len u16 | key (UTF-8) | value_len u32 | value
//! ```
//! Version vector: `"ATEVV" | format u8 = 1 | count u32 | count x (origin u64 | version u64)`.

use std::collections::BTreeMap;

/// Bounds that keep a replica small whatever peers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries (tombstones included) in all.
    pub max_entries: usize,
    /// Entries one origin may hold.
    pub max_per_origin: usize,
    pub max_key_len: usize,
    pub max_value_len: usize,
    /// Longer TTLs are cut to this.
    pub max_ttl_ms: u64,
    /// How long a removal is remembered (and passed on).
    pub tombstone_ttl_ms: u64,
    /// Deltas longer than this are refused unread.
    pub max_delta_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 65_536,
            max_per_origin: 16_384,
            max_key_len: 256,
            max_value_len: 4096,
            max_ttl_ms: 24 * 3600 * 1000,
            tombstone_ttl_ms: 60_000,
            max_delta_len: 16 << 20,
        }
    }
}

/// One key's current write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `None`: removed (a tombstone).
    pub value: Option<Vec<u8>>,
    pub origin: u64,
    pub version: u64,
    /// On this replica's clock.
    pub expires_ms: u64,
}

impl Entry {
    fn stamp(&self) -> (u64, u64) {
        (self.version, self.origin)
    }
}

/// Why a put was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("key is empty or longer than {0} bytes")]
    Key(usize),
    #[error("value is longer than {0} bytes")]
    ValueTooLarge(usize),
    #[error("TTL is zero")]
    ZeroTtl,
    #[error("{0} entries already (the cap)")]
    TooManyEntries(usize),
    #[error("origin holds {0} entries already (the per-origin cap)")]
    TooManyForOrigin(usize),
}

/// Why a delta or version vector was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("longer than the {0}-byte limit")]
    TooLong(usize),
    #[error("not an ephemeral delta (bad magic)")]
    Magic,
    #[error("format version {0} is not 1")]
    Format(u8),
    #[error("truncated")]
    Truncated,
    #[error("bytes after the last entry")]
    Trailing,
    #[error("key is not UTF-8")]
    Utf8,
}

/// Highest version seen from each origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionVector(pub BTreeMap<u64, u64>);

const DELTA_MAGIC: &[u8; 5] = b"ATEPH";
const VV_MAGIC: &[u8; 5] = b"ATEVV";
const FORMAT: u8 = 1;
/// Fixed bytes of an encoded entry (without key and value).
const ENTRY_FIXED: usize = 8 + 8 + 8 + 1 + 2 + 4;

impl VersionVector {
    pub fn get(&self, origin: u64) -> u64 {
        self.0.get(&origin).copied().unwrap_or(0)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + 16 * self.0.len());
        out.extend_from_slice(VV_MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (o, v) in &self.0 {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<VersionVector, Malformed> {
        let mut r = Reader::new(bytes, *VV_MAGIC)?;
        let count = r.u32()? as usize;
        if count.checked_mul(16) != Some(r.rest()) {
            return Err(if count.saturating_mul(16) > r.rest() {
                Malformed::Truncated
            } else {
                Malformed::Trailing
            });
        }
        let mut vv = BTreeMap::new();
        for _ in 0..count {
            let (o, v) = (r.u64()?, r.u64()?);
            let e = vv.entry(o).or_insert(0);
            *e = v.max(*e);
        }
        Ok(VersionVector(vv))
    }
}

/// What one [`Ephemeral::apply_delta`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaApplied {
    /// Entries that replaced (or created) a key's entry.
    pub accepted: u64,
    /// Entries older than what this replica holds.
    pub stale: u64,
    /// Entries over a cap, dropped.
    pub rejected: u64,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Deltas dropped whole as malformed.
    pub malformed_deltas: u64,
    /// Entries of deltas dropped for a cap.
    pub rejected_entries: u64,
    /// Entries removed by [`Ephemeral::expire`] (tombstones included).
    pub expired: u64,
}

/// A replica of the ephemeral key space.
#[derive(Debug, Clone, Default)]
pub struct Ephemeral {
    limits: Limits,
    entries: BTreeMap<String, Entry>,
    per_origin: BTreeMap<u64, usize>,
    seen: VersionVector,
    clock: u64,
    stats: Stats,
}

impl Ephemeral {
    pub fn new(limits: Limits) -> Ephemeral {
        Ephemeral {
            limits,
            ..Ephemeral::default()
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Entries held, tombstones and not yet expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to `value` for `ttl_ms` as written by `origin_node`.
    /// Returns the write's version.
    pub fn put(
        &mut self,
        now: u64,
        origin_node: u64,
        key: &str,
        value: &[u8],
        ttl_ms: u64,
    ) -> Result<u64, Refused> {
        if value.len() > self.limits.max_value_len {
            return Err(Refused::ValueTooLarge(self.limits.max_value_len));
        }
        self.write(now, origin_node, key, Some(value.to_vec()), ttl_ms)
    }

    /// Removes `key` (a tombstone that peers learn of). `false` if there
    /// was no live entry.
    pub fn remove(&mut self, now: u64, origin_node: u64, key: &str) -> bool {
        if self.get(now, key).is_none() {
            return false;
        }
        let ttl = self.limits.tombstone_ttl_ms;
        self.write(now, origin_node, key, None, ttl).is_ok()
    }

    fn write(
        &mut self,
        now: u64,
        origin: u64,
        key: &str,
        value: Option<Vec<u8>>,
        ttl_ms: u64,
    ) -> Result<u64, Refused> {
        self.clock += 1;
        let entry = Entry {
            value,
            origin,
            version: self.clock,
            expires_ms: 0,
        };
        let version = entry.version;
        self.insert(now, key, entry, ttl_ms)?;
        Ok(version)
    }

    /// Checks the caps and LWW-inserts; `Ok(false)`: older than the entry held.
    fn insert(&mut self, now: u64, key: &str, mut e: Entry, ttl_ms: u64) -> Result<bool, Refused> {
        if key.is_empty() || key.len() > self.limits.max_key_len {
            return Err(Refused::Key(self.limits.max_key_len));
        }
        if e.value
            .as_ref()
            .is_some_and(|v| v.len() > self.limits.max_value_len)
        {
            return Err(Refused::ValueTooLarge(self.limits.max_value_len));
        }
        if ttl_ms == 0 {
            return Err(Refused::ZeroTtl);
        }
        e.expires_ms = now.saturating_add(ttl_ms.min(self.limits.max_ttl_ms));
        let held = self.entries.get(key);
        if held.is_some_and(|h| h.stamp() >= e.stamp()) {
            // Dominated, so known: a peer need not send it again.
            self.saw(&e);
            return Ok(false);
        }
        let same_origin = held.is_some_and(|h| h.origin == e.origin);
        if held.is_none() && self.entries.len() >= self.limits.max_entries {
            return Err(Refused::TooManyEntries(self.limits.max_entries));
        }
        let count = self.per_origin.get(&e.origin).copied().unwrap_or(0);
        if !same_origin && count >= self.limits.max_per_origin {
            return Err(Refused::TooManyForOrigin(self.limits.max_per_origin));
        }
        self.saw(&e);
        if !same_origin {
            *self.per_origin.entry(e.origin).or_insert(0) += 1;
        }
        if let Some(old) = self.entries.insert(key.to_owned(), e) {
            if !same_origin {
                self.uncount(old.origin);
            }
        }
        Ok(true)
    }

    /// Lamport: the next local write goes above every version seen.
    fn saw(&mut self, e: &Entry) {
        self.clock = self.clock.max(e.version);
        let seen = self.seen.0.entry(e.origin).or_insert(0);
        *seen = (*seen).max(e.version);
    }

    fn uncount(&mut self, origin: u64) {
        if let Some(n) = self.per_origin.get_mut(&origin) {
            *n -= 1;
            if *n == 0 {
                self.per_origin.remove(&origin);
            }
        }
    }

    /// The live value of `key`.
    pub fn get(&self, now: u64, key: &str) -> Option<&[u8]> {
        let e = self.entries.get(key)?;
        (e.expires_ms > now).then_some(e.value.as_deref()).flatten()
    }

    /// The entry of `key` (a tombstone or expired one included).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Every entry held (tombstones, not yet expired ones included), in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// Live entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        now: u64,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.entries
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .filter(move |(_, e)| e.expires_ms > now)
            .filter_map(|(k, e)| Some((k.as_str(), e.value.as_deref()?)))
    }

    /// Drops entries whose TTL ran out; returns the keys of the live ones
    /// that expired (not the tombstones), in key order.
    pub fn expire(&mut self, now: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_ms <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut live = Vec::new();
        for k in gone {
            if let Some(e) = self.entries.remove(&k) {
                self.uncount(e.origin);
                self.stats.expired += 1;
                if e.value.is_some() {
                    live.push(k);
                }
            }
        }
        live
    }

    /// Highest version seen per origin: what to send a peer so it can
    /// answer with [`Ephemeral::delta_since`].
    pub fn version_vector(&self) -> &VersionVector {
        &self.seen
    }

    /// The entries (tombstones included) a peer whose version vector is `vv`
    /// lacks, encoded. TTLs go as time left at `now`.
    pub fn delta_since(&self, now: u64, vv: &VersionVector) -> Vec<u8> {
        let fresh: Vec<(&String, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_ms > now && e.version > vv.get(e.origin))
            .collect();
        let mut out = Vec::new();
        out.extend_from_slice(DELTA_MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&(fresh.len() as u32).to_be_bytes());
        for (k, e) in fresh {
            out.extend_from_slice(&e.origin.to_be_bytes());
            out.extend_from_slice(&e.version.to_be_bytes());
            out.extend_from_slice(&(e.expires_ms - now).to_be_bytes());
            out.push(u8::from(e.value.is_none()));
            out.extend_from_slice(&(k.len() as u16).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            let v = e.value.as_deref().unwrap_or_default();
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    /// Applies a peer's delta. A malformed one changes nothing and is
    /// counted in [`Stats::malformed_deltas`].
    pub fn apply_delta(&mut self, now: u64, bytes: &[u8]) -> Result<DeltaApplied, Malformed> {
        let decoded = self.decode_delta(bytes);
        let entries = match decoded {
            Ok(entries) => entries,
            Err(e) => {
                self.stats.malformed_deltas += 1;
                return Err(e);
            }
        };
        let mut done = DeltaApplied::default();
        for (key, entry, ttl) in entries {
            match self.insert(now, &key, entry, ttl) {
                Ok(true) => done.accepted += 1,
                Ok(false) => done.stale += 1,
                Err(_) => done.rejected += 1,
            }
        }
        self.stats.rejected_entries += done.rejected;
        Ok(done)
    }

    fn decode_delta(&self, bytes: &[u8]) -> Result<Vec<(String, Entry, u64)>, Malformed> {
        if bytes.len() > self.limits.max_delta_len {
            return Err(Malformed::TooLong(self.limits.max_delta_len));
        }
        let mut r = Reader::new(bytes, *DELTA_MAGIC)?;
        let count = r.u32()? as usize;
        // Every entry takes ENTRY_FIXED bytes at least: bound the allocation.
        if count.saturating_mul(ENTRY_FIXED) > r.rest() {
            return Err(Malformed::Truncated);
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let origin = r.u64()?;
            let version = r.u64()?;
            let ttl = r.u64()?;
            let tombstone = r.u8()? & 1 == 1;
            let klen = r.u16()? as usize;
            let key = std::str::from_utf8(r.take(klen)?).map_err(|_| Malformed::Utf8)?;
            let vlen = r.u32()? as usize;
            let value = r.take(vlen)?;
            let entry = Entry {
                value: (!tombstone).then(|| value.to_vec()),
                origin,
                version,
                expires_ms: 0,
            };
            out.push((key.to_owned(), entry, ttl));
        }
        if r.rest() != 0 {
            return Err(Malformed::Trailing);
        }
        Ok(out)
    }
}

/// Length-checked reads over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], magic: [u8; 5]) -> Result<Reader<'a>, Malformed> {
        let mut r = Reader { bytes };
        if r.take(5).map_err(|_| Malformed::Magic)? != magic.as_slice() {
            return Err(Malformed::Magic);
        }
        match r.u8().map_err(|_| Malformed::Magic)? {
            FORMAT => Ok(r),
            other => Err(Malformed::Format(other)),
        }
    }

    fn rest(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.bytes.len() {
            return Err(Malformed::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests;
