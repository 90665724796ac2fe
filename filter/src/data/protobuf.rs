//! Protocol Buffers' wire format, read without a schema compiler: just the
//! field walk that [`super::value`] needs, borrowing from the input and
//! never allocating.

/// One field's payload, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payload<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// The fields of one message, in wire order. Yields `Err(Malformed)` once
/// (and nothing after) for bytes that are not a message: a truncated field,
/// a varint over ten bytes, field number 0, or a group (wire types 3 and 4,
/// which proto3 never writes).
pub struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields {
        rest: message,
        failed: false,
    }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        // Tags and lengths under 128 (nearly all of them) are one byte.
        if let Some((&byte, rest)) = self.rest.split_first()
            && byte < 0x80
        {
            self.rest = rest;
            return Some(u64::from(byte));
        }
        let mut value = 0u64;
        for (index, byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.rest = self.rest.get(index + 1..)?;
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let taken = self.rest.get(..len)?;
        self.rest = self.rest.get(len..)?;
        Some(taken)
    }

    fn next_field(&mut self) -> Option<(u32, Payload<'a>)> {
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).ok().filter(|n| *n != 0)?;
        let payload = match tag & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => Payload::Fixed64(self.take(8)?.try_into().ok()?),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Payload::Bytes(self.take(len)?)
            }
            5 => Payload::Fixed32(self.take(4)?.try_into().ok()?),
            _ => return None,
        };
        Some((number, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Payload<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.next_field() {
            Some(field) => Some(Ok(field)),
            None => {
                self.failed = true;
                Some(Err(Malformed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(message: &[u8]) -> Vec<Result<(u32, Payload<'_>), Malformed>> {
        fields(message).collect()
    }

    #[test]
    fn every_wire_type_a_message_uses() {
        let message = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 2, 3, 4, 5, 6, 7, 8, // 2: fixed64
            0x1a, 0x02, b'h', b'i', // 3: bytes "hi"
            0x25, 9, 8, 7, 6, // 4: fixed32
            0x80, 0x01, 0x00, // 16: varint 0 (two-byte tag)
        ];
        assert_eq!(
            all(&message),
            [
                Ok((1, Payload::Varint(150))),
                Ok((2, Payload::Fixed64([1, 2, 3, 4, 5, 6, 7, 8]))),
                Ok((3, Payload::Bytes(b"hi"))),
                Ok((4, Payload::Fixed32([9, 8, 7, 6]))),
                Ok((16, Payload::Varint(0))),
            ]
        );
        assert_eq!(all(&[]), []);
    }

    #[test]
    fn malformed_messages_end_with_one_error() {
        for message in [
            &[0x0a, 0x05, b'a'][..], // bytes longer than the message
            &[0x11, 1, 2, 3],        // truncated fixed64
            &[0x08],                 // varint missing
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // 11 bytes
            &[0x00, 0x00],           // field 0
            &[0x0b, 0x0c],           // a group
            &[0x0e],                 // wire type 6
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // huge length
        ] {
            let read = all(message);
            assert_eq!(read.last(), Some(&Err(Malformed)), "{message:?}");
            assert_eq!(read.iter().filter(|field| field.is_err()).count(), 1);
        }
        // What came before the fault is still reported.
        assert_eq!(
            all(&[0x08, 0x01, 0x0a, 0x09]),
            [Ok((1, Payload::Varint(1))), Err(Malformed)]
        );
    }
}
