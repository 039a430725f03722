//! The tap device: `/dev/net/tun` opened with `IFF_TAP | IFF_NO_PI |
//! IFF_VNET_HDR`, non-blocking, driven by tokio's `AsyncFd`. Every read and
//! write carries a 10-byte `struct virtio_net_hdr` before the frame (see
//! [`super::offload`]); with offload on (`TUNSETOFFLOAD` TSO4/TSO6/CSUM)
//! reads may be TCP super-frames or frames whose checksum is left to us.
//! Closing it (drop) removes the device: it is not persistent.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{anyhow, Result};
use tokio::io::unix::AsyncFd;

use super::offload::VNET_HDR_LEN;

/// Default tap name.
pub const DEFAULT_NAME: &str = "tok0";

/// What `TUNSETOFFLOAD` asks for: checksum offload and TSO. Not USO
/// (`TUN_F_USO4/6`): tok does not segment UDP.
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;

/// A tap device registered with the tokio reactor.
#[derive(Debug)]
pub struct Tap {
    fd: AsyncFd<File>,
    name: String,
    offload: bool,
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
    /// Creates the tap `name`. Reads and writes carry a virtio-net header;
    /// `offload`: ask the kernel for TSO and checksum offload (when it
    /// refuses, the tap works without, said at info level).
    pub fn create(name: &str, offload: bool) -> Result<Tap> {
        validate_name(name)?;
        let (file, name) = open(name).map_err(|e| create_error(name, &e))?;
        let offload = if offload {
            match set_offload(&file, OFFLOADS) {
                Ok(()) => true,
                Err(e) => {
                    tracing::info!(tap = %name, error = %e, "the kernel refused TSO/checksum offload on the tap; going on without");
                    false
                }
            }
        } else {
            // A persistent tap keeps what an earlier user set: clear it
            // (best effort; super-frames would still be cut correctly).
            if let Err(e) = set_offload(&file, 0) {
                tracing::debug!(tap = %name, error = %e, "clearing the tap's offloads");
            }
            false
        };
        let fd = register(file)
            .map_err(|e| anyhow!("registering tap {name} with the event loop: {e}"))?;
        Ok(Tap { fd, name, offload })
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TSO and checksum offload are on: reads may be super-frames.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Reads one virtio header and frame into `buf`, waiting until one is
    /// there.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| inner.get_ref().read(buf)) {
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }

    /// Reads one virtio header and frame if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.fd.get_ref().read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one frame behind its virtio header; a full queue drops it
    /// (returns `Ok(false)`), as a switch port would.
    pub fn send(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<bool> {
        let parts = [IoSlice::new(vnet), IoSlice::new(frame)];
        match self.fd.get_ref().write_vectored(&parts) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (the rest
/// of the 24-byte union unused).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Opens `/dev/net/tun` non-blocking and attaches it to the tap `name`
/// (created if missing); returns the name the kernel gave. The errors are
/// the OS's, for [`create_error`].
fn open(name: &str) -> io::Result<(File, String)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
        _pad: [0; 22],
    };
    // validate_name() kept it to 15 bytes: the NUL fits.
    let n = name.len().min(libc::IFNAMSIZ - 1);
    req.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    set_iff(&file, &mut req)?;
    // 10 is the kernel's default; set it in case the device was made with
    // another size (a persistent tap).
    set_vnet_hdr_size(&file, 10)?;
    const _: () = assert!(VNET_HDR_LEN == 10);
    let len = req
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(req.name.len());
    let given = String::from_utf8_lossy(&req.name[..len]).into_owned();
    Ok((file, given))
}

/// Registers the tap's descriptor with the tokio reactor.
#[allow(unsafe_code)]
fn register(file: File) -> Result<AsyncFd<File>, tokio::io::unix::AsyncFdRegisterError<File>> {
    // SAFETY: the `File` owns its `/dev/net/tun` descriptor for its whole
    // life and `as_raw_fd` always returns that descriptor; the `AsyncFd`
    // owns the `File`, so the descriptor stays open and unchanged until the
    // `AsyncFd` is dropped.
    unsafe { AsyncFd::register(file) }
}

/// TUNSETIFF: attach to (or create) the device `req` names, with its flags.
#[allow(unsafe_code)]
fn set_iff(file: &File, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: `file` is an open /dev/net/tun; TUNSETIFF reads and writes a
    // `struct ifreq` (40 bytes: 16 of name, a 24-byte union), which `IfReq`
    // is, fully initialised, with C's layout; the pointer is valid for the
    // whole call and nothing else refers to `req` meanwhile.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, std::ptr::from_mut(req)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TUNSETVNETHDRSZ: the size of the header before every frame.
#[allow(unsafe_code)]
fn set_vnet_hdr_size(file: &File, size: libc::c_int) -> io::Result<()> {
    let mut size = size;
    // SAFETY: `file` is an open /dev/net/tun attached to a device; the
    // kernel reads one int through the pointer, valid for the call.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETVNETHDRSZ,
            std::ptr::from_mut(&mut size),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TUNSETOFFLOAD: which offloads the kernel may hand us (TUN_F_*).
#[allow(unsafe_code)]
fn set_offload(file: &File, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: `file` is an open /dev/net/tun attached to a device;
    // TUNSETOFFLOAD takes its argument by value (an unsigned long), no
    // memory is passed.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const _: () = assert!(std::mem::size_of::<IfReq>() == 40);

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
