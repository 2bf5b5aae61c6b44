//! What a call may use: its limits, and the WASI context it sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// What one call may spend. The defaults suit a transform of a few records to a few thousand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may run, instantiation included.
    pub deadline: Duration,
    /// Linear memory one call's instance may hold, all memories together.
    pub memory_bytes: usize,
    /// Calls of one transform running at once; more wait for a slot.
    pub concurrency: usize,
    /// Core instances, tables and memories one call may create (a component is several).
    pub instances: usize,
    /// See [`Limits::instances`].
    pub tables: usize,
    /// See [`Limits::instances`].
    pub memories: usize,
    /// Elements one table may hold.
    pub table_elements: usize,
    /// Bytes of stdout and of stderr kept per call (the rest is dropped, and writes past it fail).
    pub output_bytes: usize,
}

impl Limits {
    /// Default deadline per call.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
    /// Default memory cap per call.
    pub const DEFAULT_MEMORY_BYTES: usize = 512 << 20;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            deadline: Limits::DEFAULT_DEADLINE,
            memory_bytes: Limits::DEFAULT_MEMORY_BYTES,
            concurrency: std::thread::available_parallelism().map(usize::from).unwrap_or(4),
            instances: 64,
            tables: 64,
            memories: 16,
            table_elements: 1 << 20,
            output_bytes: 64 << 10,
        }
    }
}

/// What of the host a transform sees beyond its arguments. By default nothing that varies: a fixed
/// clock and a seeded random stream, so two runs of a batch give the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sandbox {
    /// Give the transform the host's wall and monotonic clocks instead of the fixed ones.
    pub host_clock: bool,
    /// Give the transform the host's random source instead of the seeded stream.
    pub host_random: bool,
    /// A fresh instance for every call, so that nothing the transform keeps in its memory reaches the
    /// next call. By default instances are pooled and reused (the host side, clock and random streams
    /// rewound per call), which spares a componentize-py component's ~1.5 ms instantiation per call.
    pub fresh_instances: bool,
}

/// The fixed wall clock: 2000-01-01T00:00:00Z, so a transform that stamps its results is still
/// deterministic, and one that computes an age from it gets a plausible one.
const FIXED_WALL: Duration = Duration::from_secs(946_684_800);

struct FixedWall;

impl HostWallClock for FixedWall {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        FIXED_WALL
    }
}

/// A monotonic clock that advances one microsecond per reading: deterministic, and still strictly
/// increasing, so code that waits for time to pass or divides by an elapsed time does not hang or fail.
/// Rewound to zero at the start of every call.
struct CountingMonotonic(Arc<AtomicU64>);

impl HostMonotonicClock for CountingMonotonic {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

/// A fixed stream of bytes, read from a cursor the host rewinds at the start of every call, so a
/// pooled instance draws the same random bytes in every call.
struct Replay {
    bytes: Arc<[u8]>,
    at: Arc<AtomicUsize>,
}

impl Replay {
    fn next(&mut self) -> u8 {
        let i = self.at.fetch_add(1, Ordering::Relaxed);
        self.bytes.get(i % self.bytes.len().max(1)).copied().unwrap_or(0)
    }
}

impl wasi_rand_core::TryRng for Replay {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes([self.next(), self.next(), self.next(), self.next()]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let (lo, hi) = (self.try_next_u32()?, self.try_next_u32()?);
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.next();
        }
        Ok(())
    }
}

/// The bytes the seeded random stream cycles through: 64 KiB of SHA-256 output under a fixed label.
fn seeded_bytes(label: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 << 10);
    let mut counter = 0u64;
    while out.len() < (64 << 10) {
        let mut h = ferry_digest::Sha256::new();
        h.update(b"ferry-transform random v1\0");
        h.update(label);
        h.update(&counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out
}

/// A store's data: the WASI context and its resources, the captured output, and the limiter.
pub(crate) struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    /// How much of stderr earlier calls of this instance wrote.
    stderr_start: usize,
    output_bytes: usize,
    /// The cursors a new call rewinds: the monotonic clock and the two random streams.
    monotonic: Arc<AtomicU64>,
    random: [Arc<AtomicUsize>; 2],
    pub(crate) limiter: Limiter,
}

impl Host {
    pub(crate) fn new(limits: &Limits, sandbox: &Sandbox) -> Host {
        let stdout = MemoryOutputPipe::new(limits.output_bytes);
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let mut b = WasiCtx::builder();
        // No preopens, environment or arguments: the builder starts with none. Stdin is empty.
        b.stdout(stdout).stderr(stderr.clone());
        b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        b.socket_addr_check(|_, _| Box::pin(async { false }));
        let monotonic = Arc::new(AtomicU64::new(0));
        let random = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
        if !sandbox.host_clock {
            b.wall_clock(FixedWall);
            b.monotonic_clock(CountingMonotonic(Arc::clone(&monotonic)));
        }
        if !sandbox.host_random {
            let [secure, insecure] = &random;
            b.secure_random(Replay { bytes: seeded_bytes(b"secure").into(), at: Arc::clone(secure) });
            b.insecure_random(Replay { bytes: seeded_bytes(b"insecure").into(), at: Arc::clone(insecure) });
            b.insecure_random_seed(0x0f3e_77a1_5eed_0000_0000_0000_0000_0001);
        }
        Host {
            wasi: b.build(),
            table: ResourceTable::new(),
            stderr,
            stderr_start: 0,
            output_bytes: limits.output_bytes,
            monotonic,
            random,
            limiter: Limiter::new(limits),
        }
    }

    /// Makes a pooled instance's next call see what a fresh one would of the host: the clock and the
    /// random streams rewound, no refused growth remembered, stderr read from here on.
    pub(crate) fn begin_call(&mut self) {
        self.monotonic.store(0, Ordering::Relaxed);
        for r in &self.random {
            r.store(0, Ordering::Relaxed);
        }
        self.limiter.refused = None;
        self.stderr_start = self.stderr.contents().len();
    }

    /// Whether the instance should go back to the pool: its captured stderr still has room for a
    /// call's worth.
    pub(crate) fn reusable(&self) -> bool {
        self.stderr.contents().len() <= self.output_bytes / 2
    }

    /// The last bytes the transform wrote to stderr in this call, as text.
    pub(crate) fn stderr_tail(&self) -> String {
        let all = self.stderr.contents();
        let this_call = all.get(self.stderr_start..).unwrap_or_default();
        clip(String::from_utf8_lossy(this_call).trim())
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Text from a guest, cut to a length an error message can carry (its end, where the cause usually is).
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 2048;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut start = text.len() - MAX;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Caps memory and tables, and remembers the first growth it refused, so that the trap that usually
/// follows (an allocator giving up) is reported as the cap it is.
pub(crate) struct Limiter {
    memory_cap: usize,
    memory_used: usize,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
    refused: Option<usize>,
}

impl Limiter {
    fn new(limits: &Limits) -> Limiter {
        Limiter {
            memory_cap: limits.memory_bytes,
            memory_used: 0,
            table_elements: limits.table_elements,
            instances: limits.instances,
            tables: limits.tables,
            memories: limits.memories,
            refused: None,
        }
    }

    /// The size of the first memory growth refused, if any.
    pub(crate) fn refused(&self) -> Option<usize> {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The cap is on all of a call's memories together: a component may have several.
        let grow = desired.saturating_sub(current);
        let total = self.memory_used.saturating_add(grow);
        if total > self.memory_cap {
            self.refused.get_or_insert(desired);
            return Ok(false);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}
