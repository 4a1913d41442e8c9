//! Reporting a task's stack overflow instead of dying with a bare SIGSEGV.
//!
//! Go checks the stack bound in every function prologue (`morestack`) and
//! grows the stack, or dies with "goroutine stack exceeds limit". We cannot
//! check in prologues, so a task that runs off its reservation touches the
//! guard below it and the kernel sends SIGSEGV. Rust's own handler
//! knows only its threads' guard pages, so it would print nothing useful.
//!
//! Ours runs on an alternate signal stack (the faulting stack has no room
//! left), asks this thread's M which task is running and where that task's
//! guard is, and if the faulting address is inside it prints which
//! task overflowed and how to give it more room, then aborts. A fault
//! anywhere else goes to the handler that was installed before ours (Rust's,
//! which keeps its "thread 'main' has overflowed its stack" message), or to
//! the default action.
//!
//! Everything in the handler is async-signal-safe: no allocation, no locks,
//! one `write(2)`, then `abort`.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Once;

use crate::machine;

/// Size of the alternate signal stack we give an M thread that has none.
/// The handler formats into a fixed buffer and needs little; 64 KiB leaves
/// room for a chained handler too.
const ALTSTACK_SIZE: usize = 64 * 1024;

/// The handlers that were installed before ours, for SIGSEGV and SIGBUS.
struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);

// SAFETY: written exactly once, inside INSTALL.call_once, before our handler
// is installed; read-only afterwards (from the handler).
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new([
    MaybeUninit::uninit(),
    MaybeUninit::uninit(),
]));
static INSTALL: Once = Once::new();

/// Installs the SIGSEGV/SIGBUS handler once per process. Signal handlers are
/// process-wide, so this is the one piece of state every runtime shares; it
/// reads only per-thread state (the M) when it runs.
pub fn install_handler() {
    INSTALL.call_once(|| {
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid "no handler" value; we
            // fill in our handler, and sigaction writes the old one into
            // PREVIOUS[i], which nothing reads until our handler is live.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_fault as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let previous = (*PREVIOUS.0.get())[i].as_mut_ptr();
                libc::sigaction(sig, &action, previous);
            }
        }
    });
}

/// Makes sure the calling thread has an alternate signal stack, installing
/// one (freed when the returned guard drops) if it has none. Threads started
/// by Rust's std usually have one already.
pub struct AltStack {
    mapping: Option<(*mut libc::c_void, usize)>,
}

impl AltStack {
    pub fn ensure() -> AltStack {
        // SAFETY: querying the current altstack writes only into `current`.
        let has_one = unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut current) == 0
                && current.ss_flags & libc::SS_DISABLE == 0
        };
        if has_one {
            return AltStack { mapping: None };
        }
        // SAFETY: a fresh anonymous mapping, registered as this thread's
        // signal stack and unregistered before it is unmapped (Drop).
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                ALTSTACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return AltStack { mapping: None };
            }
            let stack = libc::stack_t {
                ss_sp: base,
                ss_flags: 0,
                ss_size: ALTSTACK_SIZE,
            };
            libc::sigaltstack(&stack, std::ptr::null_mut());
            AltStack {
                mapping: Some((base, ALTSTACK_SIZE)),
            }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((base, len)) = self.mapping {
            // SAFETY: disable the altstack before unmapping it, so no signal
            // can be delivered onto freed memory.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&disable, std::ptr::null_mut());
                libc::munmap(base, len);
            }
        }
    }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers;
    // si_addr is the faulting address for SIGSEGV/SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(m) = machine::this_thread() {
        if let Some(task) = m.current_task() {
            // SAFETY: the running task's stack is not modified while it
            // runs, and this fault happened while it ran on this thread.
            if let Some(stack) = unsafe { (*task.stack.get()).as_ref() } {
                let (lo, hi) = stack.guard();
                if (lo..hi).contains(&addr) {
                    report(task.id.as_u64(), task.display_name(), stack.size());
                    // SAFETY: abort is async-signal-safe.
                    unsafe { libc::abort() };
                }
            }
        }
    }
    chain(sig, info, context);
}

/// Hands a fault that is not ours to the previous handler.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: PREVIOUS was written before our handler was installed.
    let previous = unsafe { (*PREVIOUS.0.get())[i].assume_init_ref() };
    let handler = previous.sa_sigaction;
    if handler != libc::SIG_DFL
        && handler != libc::SIG_IGN
        && previous.sa_flags & libc::SA_SIGINFO != 0
    {
        // SAFETY: it was installed as an SA_SIGINFO handler, so this is its
        // signature; we pass it exactly what the kernel passed us.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(sig, info, context);
        }
        return;
    }
    // Restore the previous disposition and return: the faulting instruction
    // runs again and the fault is handled (default: the process dies with
    // the signal, leaving a core dump as usual).
    // SAFETY: reinstalling a sigaction we read from the kernel.
    unsafe { libc::sigaction(sig, previous, std::ptr::null_mut()) };
}

/// Writes the overflow report to stderr without allocating.
fn report(id: u64, name: &str, size: usize) {
    let mut out = Buf::new();
    out.push(b"\ngrt: task ");
    out.push_u64(id);
    out.push(b" '");
    out.push(name.as_bytes());
    out.push(b"' overflowed its ");
    out.push_u64((size / 1024) as u64);
    out.push(b" KiB stack\ngrt: give it more room with grt::Builder::stack_size, or every task with GRT_STACK_SIZE=<bytes>\n");
    // SAFETY: writing our own buffer to fd 2; the result does not matter,
    // we abort next whatever happens.
    unsafe { libc::write(2, out.bytes.as_ptr().cast(), out.len) };
}

/// A fixed-size byte buffer (no allocation in a signal handler).
struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            bytes: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}
