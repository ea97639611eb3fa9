//! DTSC packed values (facts §10.1): MistServer's binary JSON, used in every DTSC frame.
//!
//! ```text
//!   0x01 int     i64 big-endian (booleans too)
//!   0x02 string  u32 length, bytes (binary safe: `init` and `data` are strings)
//!   0x03 null
//!   0x04 double  IEEE-754 big-endian
//!   0xE0 object  { u16 key length, key, value }* 00 00 EE   (0xFF: the legacy form, same body)
//!   0x0A array   { value }* 00 00 EE
//! ```
//!
//! The writer emits object keys in sorted (byte) order and skips empty keys, as MistServer's
//! `JSON::Value::sendTo` does. The reader ends a container at two zero bytes and skips the third
//! byte of the marker without checking it, as MistServer's does. Peer bytes never panic: every
//! length is checked against what is there, nesting is capped at [`MAX_DEPTH`] and a decode
//! makes at most [`MAX_VALUES`] values, so a frame cannot make us allocate far more than its
//! own size.

use bytes::{BufMut, Bytes, BytesMut};

/// Deepest nesting of objects and arrays a decode accepts (MistServer's headers use 4).
pub const MAX_DEPTH: usize = 32;
/// Most values one decode makes (a header with hundreds of tracks uses a few thousand).
pub const MAX_VALUES: usize = 262_144;

pub const TYPE_INT: u8 = 0x01;
pub const TYPE_STRING: u8 = 0x02;
pub const TYPE_NULL: u8 = 0x03;
pub const TYPE_DOUBLE: u8 = 0x04;
pub const TYPE_ARRAY: u8 = 0x0A;
pub const TYPE_OBJECT: u8 = 0xE0;
pub const TYPE_OBJECT_LEGACY: u8 = 0xFF;
/// Ends an object or an array.
pub const END_MARKER: [u8; 3] = [0, 0, 0xEE];

/// One packed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    /// Bytes, not necessarily text.
    Str(Bytes),
    Null,
    Double(f64),
    /// Members in the order they were read or built; written sorted by key.
    Object(Vec<(String, Value)>),
    Array(Vec<Value>),
}

/// Why bytes are not a packed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("packed value truncated at byte {0}")]
    Truncated(usize),
    #[error("unknown packed type 0x{kind:02x} at byte {at}")]
    UnknownType { kind: u8, at: usize },
    #[error("packed values nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_VALUES} packed values")]
    TooMany,
}

impl Value {
    /// An object from members (any order; the writer sorts).
    pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<Bytes>) -> Value {
        Value::Str(s.into())
    }

    /// An object's member.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets (or replaces) an object's member; nothing for other values.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Value::Object(m) = self {
            match m.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => m.push((key.to_string(), value)),
            }
        }
    }

    /// An integer (a double is truncated, as MistServer's `asInt` does).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Double(d) if d.is_finite() => Some(*d as i64),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// A string member as text (lossy for bytes that are not UTF-8).
    pub fn as_text(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn members(&self) -> &[(String, Value)] {
        match self {
            Value::Object(m) => m,
            _ => &[],
        }
    }

    /// The packed form.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.packed_size());
        self.write(&mut out);
        out.freeze()
    }

    /// Appends the packed form to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            Value::Int(i) => {
                out.put_u8(TYPE_INT);
                out.put_i64(*i);
            }
            Value::Str(b) => {
                out.put_u8(TYPE_STRING);
                out.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
                out.put_slice(&b[..b.len().min(u32::MAX as usize)]);
            }
            Value::Null => out.put_u8(TYPE_NULL),
            Value::Double(d) => {
                out.put_u8(TYPE_DOUBLE);
                out.put_f64(*d);
            }
            Value::Object(members) => {
                out.put_u8(TYPE_OBJECT);
                for (k, v) in sorted_members(members) {
                    out.put_u16(k.len() as u16);
                    out.put_slice(k.as_bytes());
                    v.write(out);
                }
                out.put_slice(&END_MARKER);
            }
            Value::Array(items) => {
                out.put_u8(TYPE_ARRAY);
                for v in items {
                    v.write(out);
                }
                out.put_slice(&END_MARKER);
            }
        }
    }

    /// How many bytes [`Value::write`] appends.
    pub fn packed_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Double(_) => 9,
            Value::Str(b) => 5 + b.len().min(u32::MAX as usize),
            Value::Null => 1,
            Value::Object(m) => {
                4 + sorted_members(m)
                    .map(|(k, v)| 2 + k.len() + v.packed_size())
                    .sum::<usize>()
            }
            Value::Array(items) => 4 + items.iter().map(Value::packed_size).sum::<usize>(),
        }
    }

    /// Decodes one value from the start of `buf`; returns it and the bytes it took.
    pub fn decode(buf: &Bytes) -> Result<(Value, usize), ValueError> {
        let mut d = Decoder {
            buf,
            at: 0,
            values: 0,
        };
        let v = d.value(0)?;
        Ok((v, d.at))
    }
}

/// An object's members as written: non-empty keys (at most `u16::MAX` bytes), sorted by bytes,
/// the last of equal keys winning.
fn sorted_members(members: &[(String, Value)]) -> impl Iterator<Item = (&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = members
        .iter()
        .filter(|(k, _)| !k.is_empty() && k.len() <= usize::from(u16::MAX))
        .map(|(k, v)| (k, v))
        .collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // Equal keys: a std::map keeps one; keep the last one set.
    let mut out: Vec<(&String, &Value)> = Vec::with_capacity(v.len());
    for (k, val) in v {
        match out.last_mut() {
            Some(last) if last.0 == k => *last = (k, val),
            _ => out.push((k, val)),
        }
    }
    out.into_iter()
}

struct Decoder<'a> {
    buf: &'a Bytes,
    at: usize,
    values: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ValueError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(ValueError::Truncated(self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, ValueError> {
        Ok(self.take(1)?[0])
    }

    fn array8(&mut self) -> Result<[u8; 8], ValueError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(a)
    }

    /// At a container's end marker: two zero bytes (the third is skipped unchecked).
    fn at_end(&mut self) -> Result<bool, ValueError> {
        let next = self
            .buf
            .get(self.at..self.at + 2)
            .ok_or(ValueError::Truncated(self.at))?;
        if next == [0, 0] {
            self.take(3)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn value(&mut self, depth: usize) -> Result<Value, ValueError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(ValueError::TooMany);
        }
        let at = self.at;
        match self.u8()? {
            TYPE_INT => Ok(Value::Int(i64::from_be_bytes(self.array8()?))),
            TYPE_DOUBLE => Ok(Value::Double(f64::from_be_bytes(self.array8()?))),
            TYPE_NULL => Ok(Value::Null),
            TYPE_STRING => {
                let mut len = [0u8; 4];
                len.copy_from_slice(self.take(4)?);
                let len = u32::from_be_bytes(len) as usize;
                let start = self.at;
                self.take(len)?;
                Ok(Value::Str(self.buf.slice(start..start + len)))
            }
            TYPE_OBJECT | TYPE_OBJECT_LEGACY => {
                if depth >= MAX_DEPTH {
                    return Err(ValueError::TooDeep);
                }
                let mut members = Vec::new();
                while !self.at_end()? {
                    let mut len = [0u8; 2];
                    len.copy_from_slice(self.take(2)?);
                    let key = self.take(usize::from(u16::from_be_bytes(len)))?;
                    let key = String::from_utf8_lossy(key).into_owned();
                    let v = self.value(depth + 1)?;
                    members.push((key, v));
                }
                Ok(Value::Object(members))
            }
            TYPE_ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err(ValueError::TooDeep);
                }
                let mut items = Vec::new();
                while !self.at_end()? {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            kind => Err(ValueError::UnknownType { kind, at }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let bytes = v.encode();
        assert_eq!(bytes.len(), v.packed_size());
        let (back, used) = Value::decode(&bytes).expect("decodes");
        assert_eq!(used, bytes.len());
        back
    }

    #[test]
    fn scalars_have_mistservers_bytes() {
        assert_eq!(&Value::Int(1).encode()[..], &[1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&Value::str("hi").encode()[..], &[2, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(&Value::Null.encode()[..], &[3]);
        assert_eq!(
            &Value::Double(1.5).encode()[..],
            &[4, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        );
        for v in [
            Value::Int(-5),
            Value::Int(i64::MAX),
            Value::str(Bytes::from_static(&[0, 0, 0xEE, 0xFF])),
            Value::Null,
            Value::Double(-0.25),
        ] {
            assert_eq!(round_trip(&v), v);
        }
    }

    #[test]
    fn objects_are_written_sorted_without_empty_keys() {
        let v = Value::object([
            ("cmd", Value::str("play")),
            ("", Value::Int(9)),
            ("a", Value::Array(vec![Value::Int(1), Value::Null])),
        ]);
        let bytes = v.encode();
        let want: Vec<u8> = [
            &[0xE0][..],
            &[0, 1, b'a', 0x0A, 1, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 0xEE],
            &[
                0, 3, b'c', b'm', b'd', 2, 0, 0, 0, 4, b'p', b'l', b'a', b'y',
            ],
            &END_MARKER,
        ]
        .concat();
        assert_eq!(&bytes[..], &want[..]);
        let back = round_trip(&v);
        assert_eq!(
            back.get("cmd").and_then(Value::as_text).as_deref(),
            Some("play")
        );
        assert_eq!(back.get("").map(|_| ()), None);
        assert_eq!(back.members().len(), 2);
    }

    #[test]
    fn legacy_objects_read_like_objects() {
        let bytes = Bytes::from_static(&[0xFF, 0, 1, b'x', 3, 0, 0, 0xEE]);
        let (v, used) = Value::decode(&bytes).expect("decodes");
        assert_eq!(used, 8);
        assert_eq!(v.get("x"), Some(&Value::Null));
    }

    #[test]
    fn malformed_values_are_errors() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x01, 0, 0],
            &[0x02, 0xFF, 0xFF, 0xFF, 0xFF, b'a'],
            &[0x02, 0, 0, 0, 3, b'a'],
            &[0xE0, 0, 5, b'a'],
            &[0xE0, 0, 1, b'a'],
            &[0xE0, 0, 1, b'a', 0x01],
            &[0xE0],
            &[0x0A, 0x03],
            &[0x0A, 0, 0],
            &[0x07],
        ];
        for c in cases {
            assert!(Value::decode(&Bytes::copy_from_slice(c)).is_err(), "{c:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x0A; 100_000];
        bytes.push(0x03);
        assert_eq!(Value::decode(&Bytes::from(bytes)), Err(ValueError::TooDeep));
        let mut ok = vec![0x0A; MAX_DEPTH];
        ok.push(0x03);
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&END_MARKER);
        }
        assert!(Value::decode(&Bytes::from(ok)).is_ok());
    }

    #[test]
    fn too_many_values_are_refused() {
        let mut bytes = vec![0x0A];
        bytes.extend(std::iter::repeat_n(0x03, MAX_VALUES + 1));
        bytes.extend_from_slice(&END_MARKER);
        assert_eq!(Value::decode(&Bytes::from(bytes)), Err(ValueError::TooMany));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2000usize {
            let data: Vec<u8> = (0..len % 64)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly valid type bytes, so decoding goes deep.
                    if i % 3 == 0 {
                        [1, 2, 3, 4, 0x0A, 0xE0, 0xFF, 0][(x % 8) as usize]
                    } else {
                        x as u8
                    }
                })
                .collect();
            let _ = Value::decode(&Bytes::from(data));
        }
    }
}
