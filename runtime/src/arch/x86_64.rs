//! The context switch for x86_64 (System V ABI).
//!
//! A task's whole CPU state, at the moment it gives up the processor, is what
//! the ABI says a callee must preserve: `rbx`, `rbp`, `r12`–`r15`, the stack
//! pointer, and the floating-point control state (the MXCSR control bits and
//! the x87 control word). Everything else is caller-saved, so the compiler has
//! already spilled it before calling [`switch`]. We push the preserved
//! registers on the stack we are leaving, store that stack pointer in the
//! outgoing [`Context`], load the incoming one, and pop the same registers off
//! the stack we arrive on. Go's `gogo`/`mcall` (asm_amd64.s) and xv6's
//! `swtch.S` do the same job; Go saves fewer registers because its own
//! compiler keeps nothing in callee-saved registers across a call.
//!
//! Invariants:
//! - A saved stack pointer always points at the frame laid out by
//!   `grt_switch` (FP control word slot, then r15, r14, r13, r12, rbx, rbp,
//!   return address), whether a task saved it or [`init_stack`] forged it.
//! - A task's first "return" lands in `grt_task_trampoline`, which calls the
//!   entry function and never returns; its CFI marks the return address as
//!   undefined, so debuggers and unwinders stop there instead of walking
//!   into garbage below the task's first frame.

use core::arch::global_asm;

/// A suspended execution: the stack pointer at which `grt_switch` left its
/// saved registers. Everything else lives on that stack.
#[repr(C)]
#[derive(Debug)]
pub struct Context {
    sp: *mut u8,
}

impl Context {
    /// A context with nothing saved in it yet; [`switch`] fills it on the way out.
    pub const fn empty() -> Context {
        Context {
            sp: core::ptr::null_mut(),
        }
    }

    /// The stack pointer this context resumes at (for debuggers and reports).
    pub fn stack_pointer(&self) -> *mut u8 {
        self.sp
    }
}

/// The task entry function: receives the argument given to [`init_stack`].
/// It runs on the new stack and must never return (there is nothing to return to).
pub type EntryFn = unsafe extern "C" fn(arg: usize) -> !;

// MXCSR with all exceptions masked, round-to-nearest (its power-on value), and
// the x87 control word with all exceptions masked, 64-bit precision: the
// values the System V ABI guarantees at process start.
const INITIAL_MXCSR: u32 = 0x1F80;
const INITIAL_X87_CW: u16 = 0x037F;

global_asm!(
    ".text",
    // grt_switch(from: *mut Context /* rdi */, to: *const Context /* rsi */)
    ".global grt_switch",
    ".type grt_switch,@function",
    ".p2align 4",
    "grt_switch:",
    ".cfi_startproc",
    // The CFI below describes where each register was saved relative to the
    // CFA (the caller's rsp before the call). The layout is the same on every
    // stack, so it stays true after rsp moves to the incoming stack.
    "push rbp",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset rbp, 0",
    "push rbx",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset rbx, 0",
    "push r12",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r12, 0",
    "push r13",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r13, 0",
    "push r14",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r14, 0",
    "push r15",
    ".cfi_adjust_cfa_offset 8",
    ".cfi_rel_offset r15, 0",
    // One 8-byte slot: MXCSR in the low 4 bytes, the x87 control word above it.
    "sub rsp, 8",
    ".cfi_adjust_cfa_offset 8",
    "stmxcsr [rsp]",
    "fnstcw [rsp + 4]",
    // Leave the outgoing stack, arrive on the incoming one.
    "mov [rdi], rsp",
    "mov rsp, [rsi]",
    "ldmxcsr [rsp]",
    "fldcw [rsp + 4]",
    "add rsp, 8",
    ".cfi_adjust_cfa_offset -8",
    "pop r15",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r15",
    "pop r14",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r14",
    "pop r13",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r13",
    "pop r12",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore r12",
    "pop rbx",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore rbx",
    "pop rbp",
    ".cfi_adjust_cfa_offset -8",
    ".cfi_restore rbp",
    "ret",
    ".cfi_endproc",
    ".size grt_switch, .-grt_switch",
    //
    // grt_task_trampoline: where a new task's first switch "returns" to.
    // init_stack left the entry argument in r12 and the entry function in r13.
    ".global grt_task_trampoline",
    ".type grt_task_trampoline,@function",
    ".p2align 4",
    "grt_task_trampoline:",
    ".cfi_startproc",
    // There is no caller: tell unwinders the return address is undefined, so
    // a backtrace ends here cleanly (gdb prints this as the outermost frame).
    ".cfi_undefined rip",
    "mov rdi, r12",
    "call r13",
    // The entry function never returns; trap if it ever does.
    "ud2",
    ".cfi_endproc",
    ".size grt_task_trampoline, .-grt_task_trampoline",
);

extern "C" {
    fn grt_switch(from: *mut Context, to: *const Context);
    fn grt_task_trampoline();
}

/// Saves the running context into `from` and resumes `to`.
///
/// Returns when some other [`switch`] names `from` as its `to`.
///
/// # Safety
/// `to` must hold a context saved by `switch` or forged by [`init_stack`] whose
/// stack is still alive and not running anywhere else; `from` must stay valid
/// until it is resumed.
#[inline(always)]
pub unsafe fn switch(from: *mut Context, to: *const Context) {
    // SAFETY: the caller guarantees both contexts are valid; grt_switch
    // preserves every callee-saved register of the System V ABI, so to the
    // compiler this is an ordinary extern "C" call.
    unsafe { grt_switch(from, to) }
}

/// Forges a context on a fresh stack so that the first [`switch`] to it calls
/// `entry(arg)` on that stack.
///
/// # Safety
/// `top` must be the 16-byte aligned upper end of a writable stack with at
/// least 128 bytes below it.
pub unsafe fn init_stack(top: *mut u8, entry: EntryFn, arg: usize) -> Context {
    debug_assert_eq!(top as usize % 16, 0, "stack top must be 16-byte aligned");
    // The frame grt_switch pops, from the lowest address up. The trampoline's
    // return-address slot sits at an address ≡ 8 (mod 16), so after `ret` the
    // stack is 16-byte aligned and the trampoline's `call` gives the entry
    // function the alignment the ABI promises. The two zero words above it
    // are padding and a null "return address" for anyone walking by frame pointers.
    let frame: [usize; 10] = [
        (INITIAL_MXCSR as usize) | ((INITIAL_X87_CW as usize) << 32),
        0,                                         // r15
        0,                                         // r14
        entry as *const () as usize,               // r13: entry function
        arg,                                       // r12: its argument
        0,                                         // rbx
        0,                                         // rbp: end of the frame-pointer chain
        grt_task_trampoline as *const () as usize, // return address of grt_switch
        0,                                         // padding
        0,                                         // null return address above everything
    ];
    // SAFETY: the caller guarantees at least 128 writable bytes below `top`;
    // the frame is 80 bytes and starts 80 bytes below the aligned top.
    unsafe {
        let sp = top.sub(core::mem::size_of_val(&frame));
        core::ptr::copy_nonoverlapping(frame.as_ptr(), sp.cast::<usize>(), frame.len());
        Context { sp }
    }
}
