//! Every task of a runtime, for reports that must list them: the deadlock
//! message, `GRT_SCHEDDETAIL`'s task lines, and later `info tasks`. Go's
//! `allgs`.
//!
//! Go appends each new G to one global slice under `allglock`, which is
//! cheap because Go recycles dead Gs and so rarely adds one. We create a
//! task per spawn, so each P keeps its own list (only its holder appends,
//! so its lock is uncontended) of weak references: the registry never keeps
//! a task alive, and dead entries are swept when a list has doubled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::sched::Sched;
use crate::task::Task;

/// One P's share of the runtime's tasks.
pub struct TaskList {
    /// Tasks spawned on this P, possibly dead.
    pub(crate) tasks: Mutex<Vec<Weak<Task>>>,
    /// The length at which the next registration sweeps out the dead: twice
    /// what the last sweep left, so sweeping stays amortised O(1) per
    /// spawn. Changed only under `tasks`' lock.
    sweep_at: AtomicUsize,
}

/// Entries below which a list is never swept.
const SWEEP_MIN: usize = 1024;

impl TaskList {
    pub fn new() -> TaskList {
        TaskList {
            tasks: Mutex::new(Vec::new()),
            sweep_at: AtomicUsize::new(SWEEP_MIN),
        }
    }

    /// Records a new task.
    pub fn register(&self, task: &Arc<Task>) {
        let mut tasks = self.tasks.lock();
        if tasks.len() >= self.sweep_at.load(Ordering::Relaxed) {
            tasks.retain(|t| t.strong_count() > 0);
            self.sweep_at
                .store((2 * tasks.len()).max(SWEEP_MIN), Ordering::Relaxed);
        }
        tasks.push(Arc::downgrade(task));
    }

    /// Adds the live tasks' states to `counts`, indexed by `TaskState`.
    pub fn count_states(&self, counts: &mut [usize; 5]) {
        for task in self.tasks.lock().iter().filter_map(Weak::upgrade) {
            counts[task.state() as usize] += 1;
        }
    }

    /// The tasks still alive.
    pub fn live(&self) -> Vec<Arc<Task>> {
        self.tasks.lock().iter().filter_map(Weak::upgrade).collect()
    }
}

/// Every live task of `sched`, by id (Go's `forEachG`).
pub fn live_tasks(sched: &Sched) -> Vec<Arc<Task>> {
    let mut tasks: Vec<_> = sched
        .procs
        .iter()
        .flat_map(|p| p.all_tasks.live())
        .collect();
    tasks.sort_by_key(|t| t.id);
    tasks
}
