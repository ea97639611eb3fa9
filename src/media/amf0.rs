//! AMF0 (Action Message Format version 0) decoder and encoder.
//!
//! Reference: Adobe "Action Message Format -- AMF 0" specification (2007),
//! section 2 (type markers, 2.1 – 2.17) and RTMP spec 1.0 section 7.1
//! (command / data messages carry AMF0-encoded values).
//!
//! Every value starts with a one-byte marker:
//!
//! ```text
//!  marker  type            body that follows the marker
//!  ------  --------------  ---------------------------------------------------
//!   0x00   number          f64, 8 bytes big-endian (IEEE 754 double)
//!   0x01   boolean         u8 (0 = false, anything else = true)
//!   0x02   string          u16 BE length + UTF-8 bytes
//!   0x03   object          properties* + 0x00 0x00 0x09
//!   0x04   movieclip       reserved, not supported               -> error
//!   0x05   null            (nothing)
//!   0x06   undefined       (nothing)
//!   0x07   reference       u16 index                              -> error
//!   0x08   ecma-array      u32 BE associative count (advisory) + properties*
//!                          + 0x00 0x00 0x09
//!   0x09   object-end      only valid after the properties of an object
//!   0x0A   strict-array    u32 BE count + count values
//!   0x0B   date            f64 ms since epoch + s16 timezone (ignored)
//!   0x0C   long-string     u32 BE length + UTF-8 bytes
//!   0x0D   unsupported     (nothing)                              -> Undefined
//!   0x0E   recordset       reserved, not supported               -> error
//!   0x0F   xml-document    u32 BE length + UTF-8 bytes            -> LongString
//!   0x10   typed-object    u16 class-name length + name + properties* + end
//!                                                                 -> Object
//!   0x11   avmplus-object  switch to AMF3                         -> error
//!
//!  property := u16 BE name length | name (UTF-8) | value
//!  object-end := 0x00 0x00 (empty name) 0x09
//! ```
//!
//! Hardening: nesting depth is limited to [`MAX_DEPTH`]; counts sent by the
//! peer are never used to pre-allocate (a strict-array count larger than the
//! remaining input is rejected at once, since every value needs at least one
//! byte); the total number of decoded values per call is limited to
//! [`MAX_VALUES`] so a 16 MiB message cannot expand into gigabytes of nodes.
//! Invalid UTF-8 is converted lossily.

use bytes::{BufMut, Bytes, BytesMut};

/// Maximum nesting of containers (object, ecma-array, strict-array,
/// typed-object). 32 nested containers decode; the 33rd is `TooDeep`.
pub const MAX_DEPTH: usize = 32;

/// Maximum number of values (including property names) decoded by one
/// call to [`decode`] / [`decode_all`].
pub const MAX_VALUES: usize = 1 << 18;

const MARKER_NUMBER: u8 = 0x00;
const MARKER_BOOLEAN: u8 = 0x01;
const MARKER_STRING: u8 = 0x02;
const MARKER_OBJECT: u8 = 0x03;
const MARKER_MOVIECLIP: u8 = 0x04;
const MARKER_NULL: u8 = 0x05;
const MARKER_UNDEFINED: u8 = 0x06;
const MARKER_REFERENCE: u8 = 0x07;
const MARKER_ECMA_ARRAY: u8 = 0x08;
const MARKER_OBJECT_END: u8 = 0x09;
const MARKER_STRICT_ARRAY: u8 = 0x0A;
const MARKER_DATE: u8 = 0x0B;
const MARKER_LONG_STRING: u8 = 0x0C;
const MARKER_UNSUPPORTED: u8 = 0x0D;
const MARKER_RECORDSET: u8 = 0x0E;
const MARKER_XML_DOCUMENT: u8 = 0x0F;
const MARKER_TYPED_OBJECT: u8 = 0x10;
const MARKER_AVMPLUS: u8 = 0x11;

/// A decoded AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    String(String),
    /// Anonymous or typed object (the class name of a typed object is dropped).
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch (timezone is ignored, as the spec says).
    Date(f64),
    LongString(String),
}

impl Amf0Value {
    /// The text of a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a `Number`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// First property named `key` of an `Object` or `EcmaArray`.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// AMF0 decoding errors.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AmfError {
    #[error("AMF0 input truncated")]
    Truncated,
    #[error("AMF0 nesting deeper than {MAX_DEPTH} containers")]
    TooDeep,
    #[error("AMF0 input holds more than {MAX_VALUES} values")]
    TooManyValues,
    #[error("unknown AMF0 type marker 0x{0:02x}")]
    UnknownMarker(u8),
    #[error("AMF0 type marker 0x{0:02x} is reserved/unsupported")]
    Unsupported(u8),
    #[error("AMF0 object-end marker outside an object")]
    UnexpectedObjectEnd,
    #[error("AMF0 switch to AMF3 (avmplus marker 0x11) is not supported")]
    Amf3,
    #[error("AMF0 reference type (0x07) is not supported")]
    Reference,
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    values: usize,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            pos: 0,
            values: 0,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let end = self.pos.checked_add(n);
        let s = end
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(AmfError::Truncated)?;
        self.pos = self.pos.saturating_add(s.len());
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, AmfError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    fn count_value(&mut self) -> Result<(), AmfError> {
        self.values = self.values.saturating_add(1);
        if self.values > MAX_VALUES {
            return Err(AmfError::TooManyValues);
        }
        Ok(())
    }

    fn utf8(&mut self, len: usize) -> Result<String, AmfError> {
        let raw = self.take(len)?;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn short_string(&mut self) -> Result<String, AmfError> {
        let len = self.u16()?;
        self.utf8(usize::from(len))
    }

    fn long_string(&mut self) -> Result<String, AmfError> {
        let len = self.u32()?;
        let len = usize::try_from(len).map_err(|_| AmfError::Truncated)?;
        self.utf8(len)
    }

    fn is_object_end(&self) -> bool {
        self.buf.get(self.pos..self.pos.saturating_add(3)) == Some(&[0, 0, MARKER_OBJECT_END][..])
    }

    /// Reads `name value` pairs up to and including the object-end marker.
    /// `ecma_count` is the advisory count of an ECMA array: if the input
    /// ends right after that many properties, the missing end marker is
    /// tolerated (some encoders omit it at the end of a message).
    fn properties(
        &mut self,
        depth: usize,
        ecma_count: Option<u32>,
    ) -> Result<Vec<(String, Amf0Value)>, AmfError> {
        let mut props = Vec::new();
        loop {
            if self.is_object_end() {
                self.pos = self.pos.saturating_add(3);
                return Ok(props);
            }
            if let Some(count) = ecma_count {
                let enough = u32::try_from(props.len()).map_or(true, |n| n >= count);
                if self.remaining() == 0 && enough {
                    return Ok(props);
                }
            }
            self.count_value()?;
            let name = self.short_string()?;
            let value = self.value(depth)?;
            props.push((name, value));
        }
    }

    fn enter(depth: usize) -> Result<usize, AmfError> {
        if depth >= MAX_DEPTH {
            return Err(AmfError::TooDeep);
        }
        Ok(depth.saturating_add(1))
    }

    /// Decodes one value; `depth` is the number of enclosing containers.
    fn value(&mut self, depth: usize) -> Result<Amf0Value, AmfError> {
        self.count_value()?;
        let marker = self.u8()?;
        Ok(match marker {
            MARKER_NUMBER => Amf0Value::Number(self.f64()?),
            MARKER_BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            MARKER_STRING => Amf0Value::String(self.short_string()?),
            MARKER_OBJECT => {
                let inner = Self::enter(depth)?;
                Amf0Value::Object(self.properties(inner, None)?)
            }
            MARKER_NULL => Amf0Value::Null,
            MARKER_UNDEFINED | MARKER_UNSUPPORTED => Amf0Value::Undefined,
            MARKER_REFERENCE => return Err(AmfError::Reference),
            MARKER_ECMA_ARRAY => {
                let inner = Self::enter(depth)?;
                let count = self.u32()?;
                Amf0Value::EcmaArray(self.properties(inner, Some(count))?)
            }
            MARKER_OBJECT_END => return Err(AmfError::UnexpectedObjectEnd),
            MARKER_STRICT_ARRAY => {
                let inner = Self::enter(depth)?;
                let count = self.u32()?;
                // Every element takes at least one byte: reject impossible
                // counts before looping, and never pre-allocate from them.
                let fits = usize::try_from(count).is_ok_and(|c| c <= self.remaining());
                if !fits {
                    return Err(AmfError::Truncated);
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(inner)?);
                }
                Amf0Value::StrictArray(items)
            }
            MARKER_DATE => {
                let ms = self.f64()?;
                let _timezone = self.u16()?;
                Amf0Value::Date(ms)
            }
            MARKER_LONG_STRING | MARKER_XML_DOCUMENT => Amf0Value::LongString(self.long_string()?),
            MARKER_TYPED_OBJECT => {
                let inner = Self::enter(depth)?;
                let _class_name = self.short_string()?;
                Amf0Value::Object(self.properties(inner, None)?)
            }
            MARKER_AVMPLUS => return Err(AmfError::Amf3),
            MARKER_MOVIECLIP | MARKER_RECORDSET => return Err(AmfError::Unsupported(marker)),
            other => return Err(AmfError::UnknownMarker(other)),
        })
    }
}

/// Decodes one value from the start of `buf`; returns it and the number of
/// bytes it occupied.
pub fn decode(buf: &[u8]) -> Result<(Amf0Value, usize), AmfError> {
    let mut d = Decoder::new(buf);
    let v = d.value(0)?;
    Ok((v, d.pos))
}

/// Decodes consecutive values until `buf` is exhausted.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    let mut d = Decoder::new(buf);
    let mut out = Vec::new();
    while d.remaining() > 0 {
        out.push(d.value(0)?);
    }
    Ok(out)
}

fn put_u16_str(out: &mut BytesMut, s: &str) {
    // Property names longer than 65535 bytes cannot be represented; they are
    // cut (we never produce such names ourselves).
    let bytes = s.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.put_u16(len);
    out.put_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

fn put_u32_str(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.put_u32(len);
    let n = usize::try_from(len).unwrap_or(bytes.len());
    out.put_slice(bytes.get(..n).unwrap_or(bytes));
}

fn put_properties(out: &mut BytesMut, props: &[(String, Amf0Value)]) {
    for (k, v) in props {
        put_u16_str(out, k);
        encode(v, out);
    }
    out.put_slice(&[0, 0, MARKER_OBJECT_END]);
}

/// Appends the AMF0 encoding of `v` to `out`. A `String` longer than 65535
/// bytes is written as a long-string.
pub fn encode(v: &Amf0Value, out: &mut BytesMut) {
    match v {
        Amf0Value::Number(n) => {
            out.put_u8(MARKER_NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(MARKER_BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.put_u8(MARKER_STRING);
            put_u16_str(out, s);
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) => {
            out.put_u8(MARKER_LONG_STRING);
            put_u32_str(out, s);
        }
        Amf0Value::Object(props) => {
            out.put_u8(MARKER_OBJECT);
            put_properties(out, props);
        }
        Amf0Value::Null => out.put_u8(MARKER_NULL),
        Amf0Value::Undefined => out.put_u8(MARKER_UNDEFINED),
        Amf0Value::EcmaArray(props) => {
            out.put_u8(MARKER_ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            put_properties(out, props);
        }
        Amf0Value::StrictArray(items) => {
            out.put_u8(MARKER_STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for item in items {
                encode(item, out);
            }
        }
        Amf0Value::Date(ms) => {
            out.put_u8(MARKER_DATE);
            out.put_f64(*ms);
            out.put_u16(0);
        }
    }
}

/// Encodes `values` back to back.
pub fn encode_all(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    for v in values {
        encode(v, &mut out);
    }
    out.freeze()
}

/// Bytes [`encode`] writes for `v`.
pub fn encoded_len(v: &Amf0Value) -> usize {
    let short = |s: &str| 2 + s.len().min(usize::from(u16::MAX));
    let props = |props: &[(String, Amf0Value)]| {
        props
            .iter()
            .map(|(k, v)| short(k).saturating_add(encoded_len(v)))
            .fold(3usize, usize::saturating_add)
    };
    match v {
        Amf0Value::Number(_) => 9,
        Amf0Value::Boolean(_) => 2,
        Amf0Value::String(s) if s.len() <= usize::from(u16::MAX) => 3 + s.len(),
        Amf0Value::String(s) | Amf0Value::LongString(s) => 5usize.saturating_add(s.len()),
        Amf0Value::Object(p) => 1usize.saturating_add(props(p)),
        Amf0Value::Null | Amf0Value::Undefined => 1,
        Amf0Value::EcmaArray(p) => 5usize.saturating_add(props(p)),
        Amf0Value::StrictArray(items) => items
            .iter()
            .map(encoded_len)
            .fold(5usize, usize::saturating_add),
        Amf0Value::Date(_) => 11,
    }
}

/// Where, in [`encode_all`]`(values)`, the value of the property `key` starts (its type
/// marker): the first such property of the first top-level `Object` or `EcmaArray` that has
/// one. This is how a writer finds a number to patch later (FLV `onMetaData` duration).
pub fn property_offset(values: &[Amf0Value], key: &str) -> Option<usize> {
    let mut at = 0usize;
    for value in values {
        let (props, header) = match value {
            Amf0Value::Object(props) => (props, 1),
            Amf0Value::EcmaArray(props) => (props, 5),
            other => {
                at = at.saturating_add(encoded_len(other));
                continue;
            }
        };
        let mut inner = at.saturating_add(header);
        for (k, v) in props {
            inner = inner.saturating_add(2 + k.len().min(usize::from(u16::MAX)));
            if k == key {
                return Some(inner);
            }
            inner = inner.saturating_add(encoded_len(v));
        }
        at = at.saturating_add(encoded_len(value));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Amf0Value {
        Amf0Value::String(x.to_string())
    }

    fn nodes(v: &Amf0Value) -> usize {
        match v {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => {
                1 + p.iter().map(|(_, v)| 1 + nodes(v)).sum::<usize>()
            }
            Amf0Value::StrictArray(items) => 1 + items.iter().map(nodes).sum::<usize>(),
            _ => 1,
        }
    }

    #[test]
    fn primitives_decode() {
        let mut b = vec![0x00];
        b.extend_from_slice(&1.5f64.to_be_bytes());
        assert_eq!(decode(&b), Ok((Amf0Value::Number(1.5), 9)));
        assert_eq!(decode(&[0x01, 0x00]), Ok((Amf0Value::Boolean(false), 2)));
        assert_eq!(decode(&[0x01, 0x07]), Ok((Amf0Value::Boolean(true), 2)));
        assert_eq!(decode(&[0x02, 0, 2, b'h', b'i']), Ok((s("hi"), 5)));
        assert_eq!(decode(&[0x05]), Ok((Amf0Value::Null, 1)));
        assert_eq!(decode(&[0x06]), Ok((Amf0Value::Undefined, 1)));
        assert_eq!(decode(&[0x0D]), Ok((Amf0Value::Undefined, 1)));
        assert_eq!(
            decode(&[0x0C, 0, 0, 0, 1, b'x']),
            Ok((Amf0Value::LongString("x".into()), 6))
        );
        assert_eq!(
            decode(&[0x0F, 0, 0, 0, 2, b'<', b'a']),
            Ok((Amf0Value::LongString("<a".into()), 7))
        );
        let mut d = vec![0x0B];
        d.extend_from_slice(&1000.0f64.to_be_bytes());
        d.extend_from_slice(&[0xFF, 0xC4]);
        assert_eq!(decode(&d), Ok((Amf0Value::Date(1000.0), 11)));
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let (v, _) = decode(&[0x02, 0, 2, 0xFF, b'a']).unwrap();
        assert_eq!(v.as_str(), Some("\u{FFFD}a"));
    }

    #[test]
    fn object_and_helpers() {
        let bytes = [
            0x03, 0, 3, b'a', b'p', b'p', 0x02, 0, 4, b'l', b'i', b'v', b'e', 0, 1, b'n', 0x00,
            0x40, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
        ];
        let (v, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(v.get("app").and_then(Amf0Value::as_str), Some("live"));
        assert_eq!(v.get("n").and_then(Amf0Value::as_f64), Some(3.0));
        assert_eq!(v.get("missing"), None);
        assert_eq!(s("x").get("a"), None);
        assert_eq!(s("x").as_f64(), None);
        assert_eq!(Amf0Value::Null.as_str(), None);
    }

    #[test]
    fn typed_object_decodes_as_object() {
        let bytes = [0x10, 0, 2, b'C', b'x', 0, 1, b'k', 0x01, 1, 0, 0, 9];
        let (v, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            v,
            Amf0Value::Object(vec![("k".into(), Amf0Value::Boolean(true))])
        );
    }

    #[test]
    fn ecma_array_with_and_without_end_marker() {
        let with = [0x08, 0, 0, 0, 1, 0, 1, b'a', 0x05, 0, 0, 9];
        let expected = Amf0Value::EcmaArray(vec![("a".into(), Amf0Value::Null)]);
        assert_eq!(decode(&with), Ok((expected.clone(), with.len())));
        // Tolerated: end marker missing at the very end of the input.
        let without = [0x08, 0, 0, 0, 1, 0, 1, b'a', 0x05];
        assert_eq!(decode(&without), Ok((expected, without.len())));
        // But not when fewer properties than announced arrived.
        let short = [0x08, 0, 0, 0, 2, 0, 1, b'a', 0x05];
        assert!(matches!(decode(&short), Err(AmfError::Truncated)));
        // A count of zero with real properties is fine (count is advisory).
        let zero = [0x08, 0, 0, 0, 0, 0, 1, b'a', 0x05, 0, 0, 9];
        assert!(decode(&zero).is_ok());
    }

    #[test]
    fn special_markers() {
        assert_eq!(decode(&[0x07, 0, 1]), Err(AmfError::Reference));
        assert_eq!(decode(&[0x11, 0x02]), Err(AmfError::Amf3));
        assert_eq!(decode(&[0x09]), Err(AmfError::UnexpectedObjectEnd));
        assert_eq!(decode(&[0x04]), Err(AmfError::Unsupported(0x04)));
        assert_eq!(decode(&[0x0E]), Err(AmfError::Unsupported(0x0E)));
        assert_eq!(decode(&[0x12]), Err(AmfError::UnknownMarker(0x12)));
        assert_eq!(decode(&[0xFF]), Err(AmfError::UnknownMarker(0xFF)));
    }

    #[test]
    fn truncated_inputs() {
        assert!(matches!(decode(&[]), Err(AmfError::Truncated)));
        assert!(matches!(decode(&[0x00, 1, 2]), Err(AmfError::Truncated)));
        assert!(matches!(
            decode(&[0x02, 0, 5, b'a']),
            Err(AmfError::Truncated)
        ));
        assert!(matches!(
            decode(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']),
            Err(AmfError::Truncated)
        ));
        assert!(matches!(
            decode(&[0x03, 0, 1, b'a']),
            Err(AmfError::Truncated)
        ));
        assert!(matches!(decode(&[0x03]), Err(AmfError::Truncated)));
        // Huge strict-array count: rejected without allocating.
        assert!(matches!(
            decode(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]),
            Err(AmfError::Truncated)
        ));
        // Every strict prefix of a valid encoding fails cleanly.
        let full = encode_all(&[sample()]);
        for n in 0..full.len() {
            assert!(decode(&full[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn depth_limit() {
        fn nested(levels: usize) -> Vec<u8> {
            let mut b = Vec::new();
            for _ in 0..levels {
                b.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
            }
            b.push(0x05);
            b
        }
        assert!(decode(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(decode(&nested(MAX_DEPTH + 1)), Err(AmfError::TooDeep));
        // Deep objects too.
        let mut b = Vec::new();
        for _ in 0..100 {
            b.extend_from_slice(&[0x03, 0, 1, b'x']);
        }
        assert_eq!(decode(&b), Err(AmfError::TooDeep));
    }

    #[test]
    fn value_count_limit() {
        let mut b = vec![0x0A];
        let n = u32::try_from(MAX_VALUES).unwrap() + 1;
        b.extend_from_slice(&n.to_be_bytes());
        b.resize(b.len() + MAX_VALUES + 1, 0x05);
        assert_eq!(decode(&b), Err(AmfError::TooManyValues));
    }

    fn sample() -> Amf0Value {
        Amf0Value::Object(vec![
            ("app".into(), s("live")),
            ("num".into(), Amf0Value::Number(-2.25)),
            ("flag".into(), Amf0Value::Boolean(true)),
            ("nil".into(), Amf0Value::Null),
            ("undef".into(), Amf0Value::Undefined),
            (
                "arr".into(),
                Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), s("two")]),
            ),
            (
                "ecma".into(),
                Amf0Value::EcmaArray(vec![("k".into(), Amf0Value::Date(5.0))]),
            ),
            ("long".into(), Amf0Value::LongString("long".into())),
            ("".into(), s("empty key")),
        ])
    }

    #[test]
    fn roundtrip() {
        let values = vec![
            s("connect"),
            Amf0Value::Number(1.0),
            sample(),
            Amf0Value::Null,
        ];
        let bytes = encode_all(&values);
        assert_eq!(decode_all(&bytes), Ok(values));
        assert_eq!(decode_all(&[]), Ok(vec![]));
    }

    #[test]
    fn encoded_lengths_and_offsets() {
        let values = vec![
            s("onMetaData"),
            sample(),
            Amf0Value::EcmaArray(vec![
                ("a".into(), Amf0Value::Null),
                ("n".into(), Amf0Value::Number(2.5)),
            ]),
            Amf0Value::String("x".repeat(70_000)),
        ];
        for v in &values {
            assert_eq!(encoded_len(v), encode_all(std::slice::from_ref(v)).len());
        }
        let bytes = encode_all(&values);
        // The first container with the key wins: "num" of sample(), then "n" of the array.
        let at = property_offset(&values, "num").unwrap();
        assert_eq!(decode(&bytes[at..]).unwrap().0, Amf0Value::Number(-2.25));
        let at = property_offset(&values, "n").unwrap();
        assert_eq!(bytes[at], MARKER_NUMBER);
        assert_eq!(&bytes[at + 1..at + 9], &2.5f64.to_be_bytes());
        assert_eq!(property_offset(&values, "missing"), None);
        assert_eq!(property_offset(&[], "n"), None);
    }

    #[test]
    fn big_string_encodes_as_long_string() {
        let big = "x".repeat(70_000);
        let bytes = encode_all(&[Amf0Value::String(big.clone())]);
        assert_eq!(bytes[0], 0x0C);
        assert_eq!(decode_all(&bytes), Ok(vec![Amf0Value::LongString(big)]));
    }

    #[test]
    fn encode_known_bytes() {
        assert_eq!(
            &encode_all(&[s("ab"), Amf0Value::Boolean(true), Amf0Value::Null])[..],
            &[0x02, 0, 2, b'a', b'b', 0x01, 1, 0x05]
        );
        assert_eq!(
            &encode_all(&[Amf0Value::EcmaArray(vec![])])[..],
            &[0x08, 0, 0, 0, 0, 0, 0, 9]
        );
    }

    /// Deterministic xorshift fuzz: random and mutated inputs never panic,
    /// and the decoded tree is never larger than the input.
    #[test]
    fn fuzz_no_panic_bounded() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seed = encode_all(&[s("connect"), Amf0Value::Number(1.0), sample()]);
        for i in 0..20_000 {
            let len = (next() % 96) as usize;
            let mut buf: Vec<u8> = if i % 2 == 0 {
                (0..len).map(|_| (next() % 20) as u8).collect()
            } else {
                let mut b = seed.to_vec();
                for _ in 0..(next() % 4 + 1) {
                    let p = (next() as usize) % b.len();
                    b[p] = next() as u8;
                }
                b
            };
            if i % 7 == 0 {
                buf.truncate((next() as usize) % (buf.len() + 1));
            }
            if let Ok(values) = decode_all(&buf) {
                let total: usize = values.iter().map(nodes).sum();
                assert!(total <= buf.len(), "{total} nodes from {} bytes", buf.len());
            }
            if let Ok((_, used)) = decode(&buf) {
                assert!(used <= buf.len());
            }
        }
    }
}
