//! DTSC, MistServer's own media format and inter-server protocol (facts §10), as pure code:
//!
//! - [`value`]: packed values (MistServer's binary JSON), with depth and count caps;
//! - [`frame`]: the `DTSC`/`DTCM`/`DTP2`/`DTPD` frames, a streaming reader and the writers;
//! - [`meta`]: the header object as our [`Track`](crate::media::Track)s and `DTP2` packets as
//!   our [`Packet`](crate::media::Packet)s, and back.
//!
//! Packet data is what MistServer keeps in its buffers, which is also what our packets hold:
//! length-prefixed NAL units for H.264/HEVC with the avcC/hvcC record as `init`, raw AAC frames
//! with the AudioSpecificConfig as `init`, raw MP3 frames. The socket side is
//! `protocols::dtsc` (the output, port 4200) and `protocols::inputs::dtsc` (`dtsc://` pulls).

pub mod frame;
pub mod meta;
pub mod value;

pub use frame::{read_frame, DataPacket, Frame, FrameError};
pub use value::{Value, ValueError};
