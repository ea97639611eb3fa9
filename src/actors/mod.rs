//! The actors. Each is the only writer of its own state; everyone else sends it messages.
//!
//! - [`supervisor`]: owns the configuration and the registries of streams, sessions and pushes,
//!   and drives the protocols' listeners and push outputs.
//! - [`hub`]: the actors' side of the stream hub ([`crate::hub`]), what protocols reach them by.
//! - [`config_edit`]: the configuration changes the supervisor applies (pure functions).
//! - [`stream`]: one StreamActor per active stream, owning its live buffer.
//! - [`session`]: one SessionActor per viewer, input or output session (USER_NEW, stop, tags).
//! - [`push`]: one PushActor per push or recording, the auto-push rules and schedule.

pub mod config_edit;
pub mod hub;
pub mod push;
pub mod session;
pub mod stream;
pub mod supervisor;
