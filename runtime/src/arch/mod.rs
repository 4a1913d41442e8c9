//! Architecture-specific code: the context switch and the first frame of a
//! new task. Everything the rest of the runtime needs from an architecture is
//! `Context`, `switch` and `init_stack`; adding aarch64 means adding one file
//! beside `x86_64.rs` that provides the same three things.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::{init_stack, switch, Context};

#[cfg(not(target_arch = "x86_64"))]
compile_error!("grt supports x86_64 only for now: add an arch module beside arch/x86_64.rs");
