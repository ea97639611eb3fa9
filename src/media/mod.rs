//! The internal media model and the formats (FLV, TS, MP4, ...): pure code, no sockets, no actors.
//! Filled in by the live-path work; empty in the foundation.
