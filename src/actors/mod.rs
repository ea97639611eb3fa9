//! The actors. Each is the only writer of its own state; everyone else sends it messages.
//!
//! - [`supervisor`]: owns the configuration, the listeners and (later) the registries of streams,
//!   sessions and pushes.
//! - [`config_edit`]: the configuration changes the supervisor applies (pure functions).
//! - [`listeners`]: the listeners `config.protocols` turns on.
//! - [`stream`]: one StreamActor per active stream, with its live buffer.
//! - [`session`]: one SessionActor per viewer or input session (USER_NEW, stop, tags).
//! - [`push`]: one PushActor per push or recording, the auto-push rules and schedule.
//! - [`trigger`]: trigger handlers (HTTP or executable, blocking or not).

pub mod config_edit;
pub mod listeners;
pub mod push;
pub mod session;
pub mod stream;
pub mod supervisor;
pub mod trigger;
