//! AMF0, the value encoding of FLV script data and of RTMP commands.
//!
//! What it does: [`Value`] and its encoding ([`encode`], infallible, into a
//! `BytesMut`) and decoding ([`decode`], [`decode_all`]). Decoding reads from
//! a byte slice a peer chose, so it is defensive: nesting depth is capped
//! ([`MAX_DEPTH`]), entries per object are capped ([`MAX_ENTRIES`]), every
//! declared length and count is checked against the bytes actually left
//! before anything is read, nothing is preallocated from a declared count,
//! and AMF3 or unknown markers are rejected with a typed error.
//!
//! What it does not: AMF3, references, typed objects, or any I/O. The RTMP
//! commands built from these values live in `onair-rtmp`, the script data
//! tags in `onair-flv`.
//!
//! ```
//! use bytes::BytesMut;
//! use onair_amf0::{decode_all, encode, Value};
//! let mut out = BytesMut::new();
//! encode(&mut out, &Value::from("connect"));
//! encode(&mut out, &Value::Number(1.0));
//! let values = decode_all(&out).unwrap();
//! assert_eq!(values, vec![Value::from("connect"), Value::Number(1.0)]);
//! ```

use bytes::{BufMut, BytesMut};

/// Deepest object/array nesting the decoder accepts. Real RTMP commands nest
/// two or three levels; anything deeper is an attack or garbage.
pub const MAX_DEPTH: usize = 16;

/// Most entries one object, ECMA array or strict array may hold. RTMP
/// commands carry a handful; the cap bounds work on hostile input.
pub const MAX_ENTRIES: usize = 1024;

const MARKER_NUMBER: u8 = 0x00;
const MARKER_BOOLEAN: u8 = 0x01;
const MARKER_STRING: u8 = 0x02;
const MARKER_OBJECT: u8 = 0x03;
const MARKER_NULL: u8 = 0x05;
const MARKER_UNDEFINED: u8 = 0x06;
const MARKER_ECMA_ARRAY: u8 = 0x08;
const MARKER_OBJECT_END: u8 = 0x09;
const MARKER_STRICT_ARRAY: u8 = 0x0A;
const MARKER_DATE: u8 = 0x0B;
const MARKER_LONG_STRING: u8 = 0x0C;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// IEEE 754 double.
    Number(f64),
    /// true / false.
    Boolean(bool),
    /// UTF-8 string (short or long form on the wire).
    String(String),
    /// Anonymous object: ordered key/value pairs.
    Object(Vec<(String, Value)>),
    /// null.
    Null,
    /// undefined.
    Undefined,
    /// ECMA (associative) array: ordered key/value pairs.
    EcmaArray(Vec<(String, Value)>),
    /// Strict (dense) array.
    StrictArray(Vec<Value>),
    /// Date: milliseconds since the Unix epoch and a time zone (ignored by everyone).
    Date(f64, i16),
}

impl Value {
    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The properties, if this is an object or an ECMA array.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// Looks up a property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "number",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Object(_) => "object",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::EcmaArray(_) => "ecma-array",
            Value::StrictArray(_) => "strict-array",
            Value::Date(..) => "date",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

/// Why AMF0 bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    /// The input ended inside a value.
    #[error("AMF0 value truncated at byte {offset}: needed {needed} more bytes")]
    Truncated {
        /// Offset in the input where the value was cut.
        offset: usize,
        /// How many bytes were still needed.
        needed: usize,
    },
    /// Objects or arrays nested deeper than [`MAX_DEPTH`].
    #[error("AMF0 nesting deeper than {MAX_DEPTH} at byte {offset}")]
    TooDeep {
        /// Offset of the value that crossed the limit.
        offset: usize,
    },
    /// An object or array with more than [`MAX_ENTRIES`] entries.
    #[error("AMF0 container with more than {MAX_ENTRIES} entries at byte {offset}")]
    TooManyEntries {
        /// Offset of the container.
        offset: usize,
    },
    /// A marker this decoder does not accept (AMF3 switch, reference, movie clip, unknown).
    #[error("unsupported AMF0 marker 0x{marker:02x} at byte {offset}")]
    UnsupportedMarker {
        /// The marker byte.
        marker: u8,
        /// Where it was.
        offset: usize,
    },
    /// A string that is not UTF-8.
    #[error("AMF0 string at byte {offset} is not UTF-8")]
    InvalidUtf8 {
        /// Offset of the string's bytes.
        offset: usize,
    },
}

// ---------------------------------------------------------------- encoding

/// Appends one value.
pub fn encode(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Number(n) => {
            out.put_u8(MARKER_NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(MARKER_BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) => encode_string_value(out, s),
        Value::Object(props) => {
            out.put_u8(MARKER_OBJECT);
            encode_properties(out, props);
        }
        Value::Null => out.put_u8(MARKER_NULL),
        Value::Undefined => out.put_u8(MARKER_UNDEFINED),
        Value::EcmaArray(props) => {
            out.put_u8(MARKER_ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            encode_properties(out, props);
        }
        Value::StrictArray(items) => {
            out.put_u8(MARKER_STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for item in items {
                encode(out, item);
            }
        }
        Value::Date(ms, tz) => {
            out.put_u8(MARKER_DATE);
            out.put_f64(*ms);
            out.put_i16(*tz);
        }
    }
}

/// Appends a string value, using the long form past 65535 bytes.
pub fn encode_string_value(out: &mut BytesMut, s: &str) {
    match u16::try_from(s.len()) {
        Ok(len) => {
            out.put_u8(MARKER_STRING);
            out.put_u16(len);
        }
        Err(_) => {
            out.put_u8(MARKER_LONG_STRING);
            out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
        }
    }
    out.put_slice(s.as_bytes());
}

fn encode_properties(out: &mut BytesMut, props: &[(String, Value)]) {
    for (key, value) in props {
        // Keys are short strings; a key over 65535 bytes is cut (never produced here).
        let key = &key.as_bytes()[..key.len().min(u16::MAX as usize)];
        out.put_u16(key.len() as u16);
        out.put_slice(key);
        encode(out, value);
    }
    out.put_u16(0);
    out.put_u8(MARKER_OBJECT_END);
}

/// Encodes a sequence of values (an RTMP command is a sequence).
pub fn encode_all(values: &[Value]) -> BytesMut {
    let mut out = BytesMut::with_capacity(128);
    for v in values {
        encode(&mut out, v);
    }
    out
}

// ---------------------------------------------------------------- decoding

/// Decodes every value in `input` (an RTMP command body).
pub fn decode_all(input: &[u8]) -> Result<Vec<Value>, Amf0Error> {
    let mut r = Reader { input, pos: 0 };
    let mut values = Vec::new();
    while r.pos < input.len() {
        if values.len() >= MAX_ENTRIES {
            return Err(Amf0Error::TooManyEntries { offset: r.pos });
        }
        values.push(r.value(0)?);
    }
    Ok(values)
}

/// Decodes one value from the front of `input`; returns it and the bytes used.
pub fn decode(input: &[u8]) -> Result<(Value, usize), Amf0Error> {
    let mut r = Reader { input, pos: 0 };
    let v = r.value(0)?;
    Ok((v, r.pos))
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let left = self.input.len() - self.pos;
        if n > left {
            return Err(Amf0Error::Truncated {
                offset: self.pos,
                needed: n - left,
            });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, Amf0Error> {
        let offset = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Amf0Error::InvalidUtf8 { offset })
    }

    fn value(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        let offset = self.pos;
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep { offset });
        }
        let marker = self.u8()?;
        match marker {
            MARKER_NUMBER => Ok(Value::Number(self.f64()?)),
            MARKER_BOOLEAN => Ok(Value::Boolean(self.u8()? != 0)),
            MARKER_STRING => {
                let len = self.u16()? as usize;
                Ok(Value::String(self.utf8(len)?))
            }
            MARKER_LONG_STRING => {
                let len = self.u32()? as usize;
                Ok(Value::String(self.utf8(len)?))
            }
            MARKER_OBJECT => Ok(Value::Object(self.properties(depth, offset)?)),
            MARKER_NULL => Ok(Value::Null),
            MARKER_UNDEFINED => Ok(Value::Undefined),
            MARKER_ECMA_ARRAY => {
                // The declared count is only a hint (often wrong in the wild);
                // the end marker is what ends the array.
                let _hint = self.u32()?;
                Ok(Value::EcmaArray(self.properties(depth, offset)?))
            }
            MARKER_STRICT_ARRAY => {
                let count = self.u32()? as usize;
                // Each element takes at least one byte: a count larger than
                // what is left cannot be honest.
                if count > self.input.len() - self.pos {
                    return Err(Amf0Error::Truncated {
                        offset: self.pos,
                        needed: count - (self.input.len() - self.pos),
                    });
                }
                if count > MAX_ENTRIES {
                    return Err(Amf0Error::TooManyEntries { offset });
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::StrictArray(items))
            }
            MARKER_DATE => {
                let ms = self.f64()?;
                let tz = self.u16()? as i16;
                Ok(Value::Date(ms, tz))
            }
            // Reference (0x07), AVM+ switch to AMF3 (0x11), movie clip, unknown.
            _ => Err(Amf0Error::UnsupportedMarker { marker, offset }),
        }
    }

    fn properties(
        &mut self,
        depth: usize,
        offset: usize,
    ) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let key_len = self.u16()? as usize;
            if key_len == 0 {
                // Either the object-end marker or (tolerated, as FFmpeg does)
                // an empty key followed by a value.
                let next = *self.input.get(self.pos).ok_or(Amf0Error::Truncated {
                    offset: self.pos,
                    needed: 1,
                })?;
                if next == MARKER_OBJECT_END {
                    self.pos += 1;
                    return Ok(props);
                }
            }
            if props.len() >= MAX_ENTRIES {
                return Err(Amf0Error::TooManyEntries { offset });
            }
            let key = self.utf8(key_len)?;
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let mut out = BytesMut::new();
        encode(&mut out, &v);
        let (back, used) = decode(&out).unwrap();
        assert_eq!(back, v);
        assert_eq!(used, out.len());
    }

    #[test]
    fn number_is_marker_then_big_endian_double() {
        let mut out = BytesMut::new();
        encode(&mut out, &Value::Number(1.0));
        assert_eq!(&out[..], &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn string_is_marker_u16_length_bytes() {
        let mut out = BytesMut::new();
        encode(&mut out, &Value::from("connect"));
        assert_eq!(&out[..], b"\x02\x00\x07connect");
    }

    #[test]
    fn object_ends_with_empty_key_and_end_marker() {
        let mut out = BytesMut::new();
        encode(
            &mut out,
            &Value::Object(vec![("app".into(), Value::from("live"))]),
        );
        assert_eq!(&out[..], b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09");
    }

    #[test]
    fn values_round_trip() {
        roundtrip(Value::Number(-12.5));
        roundtrip(Value::Boolean(true));
        roundtrip(Value::from("héllo"));
        roundtrip(Value::String("x".repeat(70_000)));
        roundtrip(Value::Null);
        roundtrip(Value::Undefined);
        roundtrip(Value::Date(1.0e12, 0));
        roundtrip(Value::StrictArray(vec![Value::Null, Value::Number(2.0)]));
        roundtrip(Value::EcmaArray(vec![
            ("width".into(), Value::Number(1280.0)),
            (
                "nested".into(),
                Value::Object(vec![("a".into(), Value::Boolean(false))]),
            ),
        ]));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut out = BytesMut::new();
        encode(
            &mut out,
            &Value::Object(vec![(
                "code".into(),
                Value::from("NetStream.Publish.Start"),
            )]),
        );
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut} decoded");
        }
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let mut bytes = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            bytes.extend_from_slice(&[MARKER_STRICT_ARRAY, 0, 0, 0, 1]);
        }
        bytes.push(MARKER_NULL);
        assert!(matches!(decode(&bytes), Err(Amf0Error::TooDeep { .. })));
    }

    #[test]
    fn strict_array_count_larger_than_input_is_rejected_without_allocating() {
        let bytes = [MARKER_STRICT_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, MARKER_NULL];
        assert!(matches!(decode(&bytes), Err(Amf0Error::Truncated { .. })));
    }

    #[test]
    fn amf3_switch_marker_is_rejected() {
        assert_eq!(
            decode(&[0x11, 0x01]),
            Err(Amf0Error::UnsupportedMarker {
                marker: 0x11,
                offset: 0
            })
        );
    }
}
