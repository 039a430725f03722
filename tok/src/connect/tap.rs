//! The tap device: created with `tun-tap`, made non-blocking and driven by
//! tokio's `AsyncFd`. Closing it (drop) removes the device: it is not
//! persistent.

use std::io;

use anyhow::{anyhow, Context, Result};
use tokio::io::unix::AsyncFd;
use tun_tap::{Iface, Mode};

/// Default tap name.
pub const DEFAULT_NAME: &str = "tok0";

/// A tap device registered with the tokio reactor.
#[derive(Debug)]
pub struct Tap {
    fd: AsyncFd<Iface>,
}

/// Turns the OS error of creating a tap into a message naming the fix.
pub fn create_error(name: &str, err: &io::Error) -> anyhow::Error {
    match err.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            anyhow!("creating tap {name} needs CAP_NET_ADMIN (run as root or setcap)")
        }
        Some(libc::EBUSY) => anyhow!(
            "tap name {name} is already in use by another device: pick another with --tap NAME"
        ),
        Some(libc::ENOENT | libc::ENODEV) => anyhow!(
            "creating tap {name}: /dev/net/tun is missing (load the `tun` kernel module)"
        ),
        Some(libc::EINVAL) => anyhow!(
            "creating tap {name}: the kernel refused it: {name} is probably an existing device that is not a tap; pick another with --tap NAME"
        ),
        _ => anyhow!("creating tap {name}: {err}"),
    }
}

/// Checks a tap name before asking the kernel (IFNAMSIZ is 16 with the NUL).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains('%')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "tap name `{name}` is not accepted: expected 1 to 15 printable characters without `/`, `:`, `%` or spaces (default {DEFAULT_NAME})"
        ))
    }
}

impl Tap {
    /// Creates the tap `name` (no packet-info header: reads are Ethernet frames).
    pub fn create(name: &str) -> Result<Tap> {
        validate_name(name)?;
        let iface =
            Iface::without_packet_info(name, Mode::Tap).map_err(|e| create_error(name, &e))?;
        iface
            .set_non_blocking()
            .with_context(|| format!("making tap {name} non-blocking"))?;
        let fd = register(iface)
            .map_err(|e| anyhow!("registering tap {name} with the event loop: {e}"))?;
        Ok(Tap { fd })
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        self.fd.get_ref().name()
    }

    /// Reads one frame into `buf`, waiting until one is there.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| inner.get_ref().recv(buf)) {
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }

    /// Reads one frame if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.fd.get_ref().recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one frame; a full queue drops it (returns `Ok(false)`), as a
    /// switch port would.
    pub fn send(&self, frame: &[u8]) -> io::Result<bool> {
        match self.fd.get_ref().send(frame) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Registers the tap's descriptor with the tokio reactor.
#[allow(unsafe_code)]
fn register(iface: Iface) -> Result<AsyncFd<Iface>, tokio::io::unix::AsyncFdRegisterError<Iface>> {
    // SAFETY: `Iface` owns its `/dev/net/tun` `File` for its whole life and
    // `as_raw_fd` always returns that file's descriptor; the `AsyncFd` owns
    // the `Iface`, so the descriptor stays open and unchanged until the
    // `AsyncFd` is dropped.
    unsafe { AsyncFd::register(iface) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("tok0").is_ok());
        assert!(validate_name("a23456789012345").is_ok());
        for bad in ["", "a234567890123456", "a b", "a/b", "x%d", ".."] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn create_errors_name_the_tap() {
        let e = create_error("tok7", &io::Error::from_raw_os_error(libc::EPERM)).to_string();
        assert_eq!(
            e,
            "creating tap tok7 needs CAP_NET_ADMIN (run as root or setcap)"
        );
        let e = create_error("tok7", &io::Error::from_raw_os_error(libc::EBUSY)).to_string();
        assert!(e.contains("tok7") && e.contains("in use"), "{e}");
    }
}
