//! grt-netpoll: the epoll layer under grt's net poller.
//!
//! Go's `netpoll_epoll.go` keeps one epoll instance per process and a
//! `pollDesc` per descriptor with a reader and a writer wait slot; the
//! scheduler asks it "which waiters are ready?" while looking for work. This
//! crate will hold that layer and, by design, knows nothing of tasks: it
//! hands back opaque waiter tokens and the runtime readies the tasks they
//! name. It is a placeholder until the net-poller issue lands; the runtime
//! does not use it yet.
