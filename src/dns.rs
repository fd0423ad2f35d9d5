//! Node's `dns.lookup`: name resolution through the system resolver
//! (`getaddrinfo(3)`, so `/etc/hosts` and NSS apply), on the thread pool as
//! slow I/O: at most half the workers resolve at once, so a stalled
//! resolver cannot starve file and CPU work. [`promises::lookup`] is its
//! awaitable form (Node's `dns/promises`).
//!
//! ```
//! use nodeloop::{dns, Loop};
//! let mut lp = Loop::new();
//! dns::lookup(&mut lp, "localhost", dns::Family::V4, |_, r| {
//!     assert_eq!(r.unwrap()[0], std::net::Ipv4Addr::LOCALHOST);
//! });
//! lp.run_default();
//! ```

use std::error::Error;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::threadpool::Class;
use crate::{Loop, WorkRequest};

pub mod promises;

/// Which addresses to ask for (Node's `family` option: 0, 4 or 6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Family {
    /// Both, in the resolver's order (`0`).
    #[default]
    Any,
    /// IPv4 only (`4`).
    V4,
    /// IPv6 only (`6`).
    V6,
}

impl Family {
    /// Node's number for it: 0, 4 or 6; anything else is `None`.
    ///
    /// ```
    /// use nodeloop::dns::Family;
    /// assert_eq!(Family::from_number(6), Some(Family::V6));
    /// assert_eq!(Family::from_number(5), None);
    /// ```
    pub fn from_number(n: u8) -> Option<Family> {
        match n {
            0 => Some(Family::Any),
            4 => Some(Family::V4),
            6 => Some(Family::V6),
            _ => None,
        }
    }

    fn af(self) -> libc::c_int {
        match self {
            Family::Any => libc::AF_UNSPEC,
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }
}

/// A failed lookup, as Node reports it: `getaddrinfo ENOTFOUND host`.
/// It travels inside an [`io::Error`]; [`DnsError::of`] gets it back.
///
/// ```
/// use nodeloop::{dns, Loop};
/// let mut lp = Loop::new();
/// dns::lookup(&mut lp, "no-such-host.invalid", dns::Family::Any, |_, r| {
///     let err = r.unwrap_err();
///     let info = dns::DnsError::of(&err).unwrap();
///     assert_eq!(info.code(), "ENOTFOUND");
///     assert_eq!(err.to_string(), "getaddrinfo ENOTFOUND no-such-host.invalid");
/// });
/// lp.run_default();
/// ```
#[derive(Debug)]
pub struct DnsError {
    code: &'static str,
    hostname: String,
    source: Option<io::Error>,
}

impl DnsError {
    /// The details of `err`, if it came from a lookup.
    pub fn of(err: &io::Error) -> Option<&DnsError> {
        err.get_ref()?.downcast_ref::<DnsError>()
    }

    /// Node's `err.code`: `ENOTFOUND` (no such name, or no address of the
    /// family asked for), `EAI_AGAIN` (temporary failure: retry), `EAI_FAIL`,
    /// `ENOMEM`, an errno name for system errors, or `EINVAL` for a
    /// hostname with a NUL byte.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The name that was looked up.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "getaddrinfo {} {}", self.code, self.hostname)
    }
}

impl Error for DnsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

fn dns_error(
    kind: io::ErrorKind,
    code: &'static str,
    host: &str,
    source: Option<io::Error>,
) -> io::Error {
    io::Error::new(
        kind,
        DnsError {
            code,
            hostname: host.to_owned(),
            source,
        },
    )
}

/// Resolves `host` to its addresses, on the pool, and calls back with them
/// (never an empty list: no address is an `ENOTFOUND` error). An IP
/// address literal is returned as is, without the pool, from the next-tick
/// queue, whatever `family` says, as Node does.
///
/// ```
/// use nodeloop::{dns, Loop};
/// let mut lp = Loop::new();
/// dns::lookup(&mut lp, "::1", dns::Family::Any, |_, r| {
///     assert_eq!(r.unwrap(), [std::net::Ipv6Addr::LOCALHOST]);
/// });
/// lp.run_default();
/// ```
pub fn lookup(
    lp: &mut Loop,
    host: &str,
    family: Family,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<IpAddr>>) + 'static,
) {
    start_lookup(lp, host, family, cb);
}

/// [`lookup`], returning the pool request when there is one (not for an IP
/// literal), so that an awaitable form can cancel it while it is queued.
fn start_lookup(
    lp: &mut Loop,
    host: &str,
    family: Family,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<IpAddr>>) + 'static,
) -> Option<WorkRequest> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        lp.next_tick(move |lp| cb(lp, Ok(vec![ip])));
        return None;
    }
    let job = getaddrinfo(host.to_owned(), family);
    Some(lp.submit_work(Class::SlowIo, job, move |lp, r| {
        cb(lp, r.unwrap_or_else(|e| Err(e.into())))
    }))
}

/// The blocking lookup, as a pool job (shared with any other API form).
pub(crate) fn getaddrinfo(
    host: String,
    family: Family,
) -> impl FnOnce() -> io::Result<Vec<IpAddr>> + Send + 'static {
    move || {
        let c = CString::new(host.as_bytes())
            .map_err(|_| dns_error(io::ErrorKind::InvalidInput, "EINVAL", &host, None))?;
        // SAFETY: an all-zero addrinfo is the documented "no hints" value.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = family.af();
        // One entry per address rather than one per socket type.
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated name, hints and out-pointer.
        let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if rc != 0 {
            return Err(gai_error(rc, &host));
        }
        let mut out = Vec::new();
        let mut p = res;
        while !p.is_null() {
            // SAFETY: `p` walks the list getaddrinfo returned, freed below.
            let ai = unsafe { &*p };
            if let Some(ip) = unsafe { ip_of(ai) } {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
            p = ai.ai_next;
        }
        // SAFETY: `res` came from a successful getaddrinfo.
        unsafe { libc::freeaddrinfo(res) };
        if out.is_empty() {
            return Err(dns_error(io::ErrorKind::NotFound, "ENOTFOUND", &host, None));
        }
        Ok(out)
    }
}

/// # Safety
/// `ai.ai_addr` must point to a socket address of `ai.ai_family`.
unsafe fn ip_of(ai: &libc::addrinfo) -> Option<IpAddr> {
    match ai.ai_family {
        libc::AF_INET => {
            let sa = &*(ai.ai_addr as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let sa = &*(ai.ai_addr as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn gai_error(rc: libc::c_int, host: &str) -> io::Error {
    use io::ErrorKind as K;
    match rc {
        libc::EAI_NONAME | libc::EAI_NODATA => dns_error(K::NotFound, "ENOTFOUND", host, None),
        libc::EAI_AGAIN => dns_error(K::Other, "EAI_AGAIN", host, None),
        libc::EAI_FAIL => dns_error(K::Other, "EAI_FAIL", host, None),
        libc::EAI_MEMORY => dns_error(K::OutOfMemory, "ENOMEM", host, None),
        libc::EAI_FAMILY => dns_error(K::InvalidInput, "EAI_FAMILY", host, None),
        libc::EAI_SYSTEM => {
            let os = io::Error::last_os_error();
            let code = os
                .raw_os_error()
                .map_or("UNKNOWN", |n| crate::fs::errno_name(n));
            dns_error(os.kind(), code, host, Some(os))
        }
        _ => dns_error(K::Other, "UNKNOWN", host, None),
    }
}
