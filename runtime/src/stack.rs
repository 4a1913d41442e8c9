//! Task stacks: one virtual reservation each, a guard region below, pages
//! committed by the OS only when the task touches them.
//!
//! Go starts every goroutine on a 2 KiB stack and grows it by copying it to a
//! block twice the size (`newstack`, `copystack` in stack.go), fixing up every
//! pointer into the old stack as it goes. That works because Go's compiler
//! records where every pointer lives in every frame. Rust's does not: a
//! `&mut` to a local can be anywhere (in a register, a heap object, another
//! task's queue), so a stack can never move once a task runs on it. We get
//! growth from the OS instead: each stack is a large `mmap` reservation
//! (256 KiB by default) of which the kernel commits a 4 KiB page only on first
//! touch. An idle task costs one or two pages of memory, a deep one costs what
//! it used, and nothing is ever copied. The price: a page (4 KiB) is the
//! smallest unit, against Go's 2 KiB, and the reservation bounds the depth.
//!
//! Go shrinks stacks at GC time (`shrinkstack`); our analogue is
//! [`Stack::release_deep_pages`], which hands the pages below the top
//! [`KEEP_RESIDENT`] bytes back to the kernel once a stack has sat in the
//! runtime's shared pool for a while (stack_pool.rs says when, and why not
//! on every task exit).
//!
//! The guard: on Linux 6.13+ `madvise(MADV_GUARD_INSTALL)` marks it inside
//! the same mapping, so a stack costs one VMA (and neighbouring stacks even
//! merge into one), and a million stacks fit under the default
//! `vm.max_map_count` of 65530. Older kernels get `mprotect(PROT_NONE)`, which
//! splits the mapping in two; the error for a failed reservation says so.
//! The guard is [`GUARD_SIZE`], not one page: stacks sit back to back, and a
//! frame bigger than the guard could jump over it into the neighbour's live
//! stack instead of faulting. Rust probes every page of a big frame, but C
//! code built without `-fstack-clash-protection` (a TLS library's, say) does
//! not. A guard costs address space only, never memory.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

/// Default usable stack size: Go's maximum is 1 GB, its start 2 KiB; 256 KiB
/// is deep enough for ordinary blocking-style code (a TLS handshake, a parser)
/// and small enough that a million reservations fit in the address space.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Bytes at the top of a stack left committed when the shared pool trims
/// it; the pages below go back to the kernel. Most tasks never go deeper,
/// so the stack's next owner starts without page faults. 32 KiB is a guess,
/// not a measurement: it bounds a trimmed pool's resident memory at 32 MiB
/// (1,024 stacks) while sparing typical tasks any fault.
pub const KEEP_RESIDENT: usize = 32 * 1024;

/// Bytes of guard below each stack, rounded up to whole pages. Rust, and C
/// built with stack-clash protection, touch every page of a large frame, so
/// for them one page would do; unprotected C can move the stack pointer by
/// a whole frame at once, and 64 KiB catches frames up to that size (larger
/// ones could still jump it). It costs address space, not memory.
pub const GUARD_SIZE: usize = 64 * 1024;

fn guard_len() -> usize {
    GUARD_SIZE.next_multiple_of(page_size())
}

/// `MADV_GUARD_INSTALL` from Linux 6.13 (uapi/asm-generic/mman-common.h);
/// not yet in every libc crate release.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How guard pages are installed on this kernel: found out on first use and
/// shared by all runtimes in the process (it is a fact about the kernel).
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// The system page size, read once.
pub fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

/// One task stack: `[base, base + guard)` is the guard, `[base + guard, top)`
/// is usable, and the task starts at `top` and grows down.
#[derive(Debug)]
pub struct Stack {
    /// Lowest address of the mapping (the guard starts here).
    pub(crate) base: NonNull<u8>,
    /// Length of the whole mapping, guard included.
    pub(crate) len: usize,
}

// SAFETY: a Stack is exclusively owned memory; moving it between threads is
// moving the ownership of a mapping, which the kernel does not tie to a thread.
unsafe impl Send for Stack {}

impl Stack {
    /// Reserves a stack with at least `size` usable bytes (rounded up to pages).
    pub fn new(size: usize) -> io::Result<Stack> {
        Ok(Stack::reserve(size, 1)?.pop().expect("one stack reserved"))
    }

    /// Reserves `count` stacks of `size` usable bytes with one `mmap`, each
    /// with its own guard. One call instead of `count` matters: `mmap`
    /// takes the address-space lock for writing, which stalls every other
    /// thread's page faults; each stack can still be unmapped on its own.
    pub fn reserve(size: usize, count: usize) -> io::Result<Vec<Stack>> {
        let stacks = Stack::map_unguarded(size, count)?;
        for stack in &stacks {
            stack.install_guard(size)?;
        }
        Ok(stacks)
    }

    /// The mapping behind [`Stack::reserve`], cut into `count` stacks whose
    /// guards are still ordinary memory.
    fn map_unguarded(size: usize, count: usize) -> io::Result<Vec<Stack>> {
        let page = page_size();
        let usable = size
            .checked_next_multiple_of(page)
            .filter(|&u| u >= page)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("grt: stack size {size} is not a usable stack size"),
                )
            })?;
        let len = usable
            .checked_add(guard_len())
            .ok_or_else(|| too_big(size))?;
        let total = len.checked_mul(count).ok_or_else(|| too_big(size))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing touches no existing memory. MAP_NORESERVE keeps the
        // reservation out of the overcommit accounting: pages are committed
        // when touched, which is the point.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(reservation_error(size, "mmap", io::Error::last_os_error()));
        }
        // Each Stack owns its slice of the mapping from here on, so an error
        // in the caller unmaps everything as the Vec drops.
        Ok((0..count)
            .map(|i| Stack {
                // SAFETY: i * len < total, inside the mapping just made.
                base: NonNull::new(unsafe { base.cast::<u8>().add(i * len) })
                    .expect("mmap returned null"),
                len,
            })
            .collect())
    }

    fn install_guard(&self, size: usize) -> io::Result<()> {
        let base = self.base.as_ptr().cast::<libc::c_void>();
        if GUARD_MODE.load(Ordering::Relaxed) != GUARD_MPROTECT {
            // SAFETY: the range is the guard at the bottom of our own mapping.
            if unsafe { libc::madvise(base, guard_len(), MADV_GUARD_INSTALL) } == 0 {
                GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(reservation_error(size, "madvise(MADV_GUARD_INSTALL)", err));
            }
            // EINVAL: the kernel predates guard regions; remember and fall back.
            GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
        }
        self.protect_guard(size)
    }

    /// The fallback for kernels without guard regions: make the guard
    /// inaccessible, which splits it into a mapping of its own.
    fn protect_guard(&self, size: usize) -> io::Result<()> {
        // SAFETY: the range is the guard at the bottom of our own mapping.
        if unsafe { libc::mprotect(self.base.as_ptr().cast(), guard_len(), libc::PROT_NONE) } != 0 {
            return Err(reservation_error(
                size,
                "mprotect",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// The upper end of the stack, where a task starts; 16-byte aligned.
    pub fn top(&self) -> *mut u8 {
        // SAFETY: base + len is one past the end of our mapping.
        unsafe { self.base.as_ptr().add(self.len) }
    }

    /// Usable bytes (without the guard).
    pub fn size(&self) -> usize {
        self.len - guard_len()
    }

    /// The guard's address range, `[start, end)`.
    pub fn guard(&self) -> (usize, usize) {
        let start = self.base.as_ptr() as usize;
        (start, start + guard_len())
    }

    /// Returns the pages below the top [`KEEP_RESIDENT`] bytes to the kernel
    /// (their contents read as zero afterwards). Go's `shrinkstack`, without
    /// the copying.
    pub fn release_deep_pages(&self) {
        let keep = KEEP_RESIDENT.min(self.size());
        let (_, guard_end) = self.guard();
        let deep_len = self.top() as usize - keep - guard_end;
        if deep_len == 0 {
            return;
        }
        // SAFETY: the range lies inside our mapping, between the guard and
        // the kept top, and no task runs on this stack (it is being cached).
        // MADV_DONTNEED on a private anonymous mapping only drops pages.
        unsafe {
            libc::madvise(
                guard_end as *mut libc::c_void,
                deep_len,
                libc::MADV_DONTNEED,
            );
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: we own the whole mapping and nothing runs on it any more.
        unsafe { unmap(self.base.as_ptr() as usize, self.len) };
    }
}

/// Unmaps `stacks` with one `munmap` per run of stacks that lie back to
/// back in memory: stacks reserved together and freed together (tasks that
/// started and ended about the same time) go in one call. Each `munmap`
/// takes the address-space lock for writing and, once other threads of the
/// process have run on other CPUs, interrupts those CPUs to flush their
/// TLBs: per stack, that was much of the cost of a burst of short tasks.
/// Returns how many `munmap` calls it made.
pub fn unmap_all(mut stacks: Vec<Stack>) -> usize {
    stacks.sort_unstable_by_key(|stack| stack.base);
    // (start, len) of each run of back-to-back stacks.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for stack in stacks {
        let (start, len) = (stack.base.as_ptr() as usize, stack.len);
        // Unmapped below, as part of its run.
        std::mem::forget(stack);
        match runs.last_mut() {
            Some((run_start, run_len)) if *run_start + *run_len == start => *run_len += len,
            _ => runs.push((start, len)),
        }
    }
    for &(start, len) in &runs {
        // SAFETY: a run is whole stacks we owned (and forgot above), on
        // which nothing runs any more.
        unsafe { unmap(start, len) };
    }
    runs.len()
}

/// `munmap` of stacks.
///
/// # Safety
/// `[start, start + len)` is whole stacks that the caller owns and that
/// nothing uses any more.
unsafe fn unmap(start: usize, len: usize) {
    // SAFETY: the caller's promise: the range is ours and unused, so
    // unmapping it affects nothing else in the program.
    unsafe { libc::munmap(start as *mut libc::c_void, len) };
}

fn too_big(size: usize) -> io::Error {
    reservation_error(size, "size", io::Error::from_raw_os_error(libc::ENOMEM))
}

/// The error a failed reservation reports: what failed, and which limits to
/// look at, since "Cannot allocate memory" alone does not say that the usual
/// culprit is the per-process mapping count.
fn reservation_error(size: usize, call: &str, err: io::Error) -> io::Error {
    let mappings = if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MPROTECT {
        "two memory mappings (this kernel has no MADV_GUARD_INSTALL, so the guard splits the mapping)"
    } else {
        "one memory mapping"
    };
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "grt: cannot reserve a {} KiB task stack: {call} failed: {err}. \
             Each task stack takes {mappings}; the per-process limit is \
             vm.max_map_count (now {max_map_count}; raise it with \
             `sysctl -w vm.max_map_count=2000000`), and the address space \
             is bounded by `ulimit -v`. Smaller stacks (GRT_STACK_SIZE or \
             Builder::stack_size) or fewer live tasks also help.",
            size / 1024
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_is_page_rounded_and_writable_to_the_guard() {
        let stack = Stack::new(100_000).unwrap();
        assert_eq!(stack.size() % page_size(), 0);
        assert!(stack.size() >= 100_000);
        let (_, guard_end) = stack.guard();
        let bottom = guard_end as *mut u8;
        // SAFETY: every byte between the guard and the top is ours to write.
        unsafe {
            std::ptr::write_bytes(bottom, 0xAB, stack.size());
            stack.release_deep_pages();
            // Released pages stay mapped and read back as zero; the kept top does not change.
            assert_eq!(*bottom, 0);
            assert_eq!(*stack.top().sub(1), 0xAB);
        }
    }

    /// The permissions /proc/self/maps lists for the mapping starting at `addr`.
    fn perms_at(addr: usize) -> Option<String> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines().find_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let start = usize::from_str_radix(range.split_once('-')?.0, 16).ok()?;
            (start == addr).then(|| rest.split(' ').next().unwrap().to_string())
        })
    }

    #[test]
    fn mprotect_fallback_makes_the_guard_its_own_inaccessible_mapping() {
        let stack = Stack::map_unguarded(64 * 1024, 1).unwrap().pop().unwrap();
        let (guard, guard_end) = stack.guard();
        stack.protect_guard(64 * 1024).unwrap();
        assert_eq!(perms_at(guard).as_deref(), Some("---p"));
        assert_eq!(
            perms_at(guard_end).as_deref(),
            Some("rw-p"),
            "the usable part stays writable"
        );
    }

    #[test]
    fn unmap_all_frees_back_to_back_stacks_in_one_call_and_spares_the_rest() {
        let mut stacks: Vec<Option<Stack>> = Stack::reserve(64 * 1024, 6)
            .unwrap()
            .into_iter()
            .map(Some)
            .collect();
        let freed = [4, 1, 2].map(|i| stacks[i].take().unwrap());
        assert_eq!(unmap_all(freed.into()), 2, "1-2 are one run, 4 another");
        for stack in stacks.iter().flatten() {
            let (_, guard_end) = stack.guard();
            // SAFETY: the kept stacks are still ours: writing their lowest
            // and highest bytes would fault if the runs had overrun.
            unsafe {
                *(guard_end as *mut u8) = 1;
                *stack.top().sub(1) = 1;
            }
        }
    }

    #[test]
    fn impossible_size_names_the_limit() {
        let err = Stack::new(1 << 60).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        let msg = err.to_string();
        assert!(msg.contains("vm.max_map_count"), "{msg}");
        assert!(msg.contains("sysctl"), "{msg}");
    }
}
