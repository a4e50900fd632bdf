//! [`Attr`]: one attribute of a stored item, declared beside the item with
//! [`attributes!`](crate::attributes) and used by [`Update`](super::Update)'s typed setters and conditions.
//!
//! An attribute is named by its item's field, never by a string: the macro checks, when it
//! compiles, that the field exists with a type that holds the attribute's values, derives the
//! stored name the way the item's `#[serde(rename_all = "camelCase")]` does, and adds a test
//! that the name is one of the fields serde reads for the item. A value is serialised with
//! `serde_dynamo` from the attribute's Rust type, so no domain code builds an `AttributeValue`.

use std::collections::BTreeMap;
use std::marker::PhantomData;

/// The attribute of items `I` holding values of type `T` (see [`attributes!`](crate::attributes)).
pub struct Attr<I, T: ?Sized> {
    name: &'static str,
    of: PhantomData<fn(&I) -> &T>,
}

impl<I, T: ?Sized> Clone for Attr<I, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, T: ?Sized> Copy for Attr<I, T> {}

impl<I, T: ?Sized> std::fmt::Debug for Attr<I, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl<I, T: ?Sized> Attr<I, T> {
    /// Only for [`attributes!`](crate::attributes), which derives `name` from the item's field.
    #[doc(hidden)]
    pub const fn declared(name: &'static str) -> Self {
        Self {
            name,
            of: PhantomData,
        }
    }

    /// The attribute's name as stored.
    pub const fn name(self) -> &'static str {
        self.name
    }
}

/// A field of type `Self` holds attribute values of type `T`: the field's own type, or `T`
/// inside an `Option` (an attribute that is set or removed).
pub trait Holds<T: ?Sized> {}
impl<T> Holds<T> for T {}
impl<T> Holds<T> for Option<T> {}

/// A map attribute: entries keyed by text (`units.<label>`).
pub trait Entries {
    type Value;
}
impl<V> Entries for BTreeMap<String, V> {
    type Value = V;
}

/// A number attribute: what `ADD` and the numeric conditions accept.
pub trait Number {}
impl Number for u64 {}
impl Number for i64 {}

/// Compile-time check of [`attributes!`](crate::attributes): `field` holds `T`.
#[doc(hidden)]
pub fn holds<T: ?Sized, F: Holds<T>>(_field: &F) {}

/// The camelCase of a snake_case field name, as serde's `rename_all = "camelCase"` spells it:
/// the bytes and how many of them are used.
#[doc(hidden)]
pub const fn camel_case<const N: usize>(snake: &str) -> ([u8; N], usize) {
    let bytes = snake.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut len, mut upper) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'_' {
            upper = true;
        } else {
            out[len] = if upper { b.to_ascii_uppercase() } else { b };
            len += 1;
            upper = false;
        }
        i += 1;
    }
    (out, len)
}

/// The first `len` bytes of `bytes` as text (field names are ASCII).
#[doc(hidden)]
pub const fn prefix(bytes: &'static [u8], len: usize) -> &'static str {
    match std::str::from_utf8(bytes.split_at(len).0) {
        Ok(name) => name,
        Err(_) => panic!("attribute names are ASCII"),
    }
}

/// Declares attributes of a stored item that updates and conditions may name, each as an
/// associated constant of the item: `NAME: Type = field`. The item must be a struct with
/// `#[serde(rename_all = "camelCase")]`; a flattened struct declares its own fields.
///
/// ```ignore
/// shared::store::attributes! { UserItem in user_attributes {
///     NAME: String = name,
///     PROPERTY_COUNT: u64 = property_count,
/// } }
/// // Update::new(key).set(UserItem::NAME, &name).add(UserItem::PROPERTY_COUNT, 1)
/// ```
///
/// `user_attributes` names the test module that checks every name against serde's fields.
#[macro_export]
macro_rules! attributes {
    ($item:ident in $tests:ident { $($konst:ident: $ty:ty = $field:ident),+ $(,)? }) => {
        impl $item {
            $(
                #[doc = concat!("The `", stringify!($field), "` attribute.")]
                pub const $konst: $crate::store::Attr<$item, $ty> = {
                    const NAME: ([u8; stringify!($field).len()], usize) =
                        $crate::store::attr::camel_case(stringify!($field));
                    $crate::store::Attr::declared($crate::store::attr::prefix(&NAME.0, NAME.1))
                };
            )+
        }

        // Each field exists and holds its attribute's type: checked when this compiles.
        const _: fn(&$item) = |item| {
            $($crate::store::attr::holds::<$ty, _>(&item.$field);)+
        };

        #[cfg(test)]
        mod $tests {
            #[test]
            fn are_fields_serde_reads_for_the_item() {
                $crate::store::attr::assert_serde_fields::<super::$item>(
                    stringify!($item),
                    &[$(super::$item::$konst.name()),+],
                );
            }
        }
    };
}

/// Fails unless every name of `names` is a field serde reads for `I` (a struct).
#[doc(hidden)]
pub fn assert_serde_fields<I: serde::de::DeserializeOwned>(item: &str, names: &[&str]) {
    let fields = introspect::fields::<I>();
    assert!(!fields.is_empty(), "{item} is not a plain struct");
    for name in names {
        assert!(
            fields.contains(name),
            "{item} has no serde field `{name}` (its fields: {fields:?})"
        );
    }
}

/// The field names serde's derived `Deserialize` of a struct asks for.
mod introspect {
    use serde::de::{self, Deserializer, Visitor};

    #[derive(Debug)]
    struct Found(&'static [&'static str]);

    impl std::fmt::Display for Found {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fields found")
        }
    }

    impl std::error::Error for Found {}

    impl de::Error for Found {
        fn custom<T: std::fmt::Display>(_msg: T) -> Self {
            Self(&[])
        }
    }

    struct Fields;

    impl<'de> Deserializer<'de> for Fields {
        type Error = Found;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    pub(super) fn fields<I: de::DeserializeOwned>() -> &'static [&'static str] {
        match I::deserialize(Fields) {
            Ok(_) => &[],
            Err(Found(fields)) => fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_as_serde_camel_case_spells_them() {
        const NAME: ([u8; 20], usize) = camel_case("published_post_count");
        const ONE: ([u8; 4], usize) = camel_case("name");
        const INDEX: ([u8; 6], usize) = camel_case("gsi2pk");
        const UNIT: ([u8; 7], usize) = camel_case("area_m2");
        assert_eq!(prefix(&NAME.0, NAME.1), "publishedPostCount");
        assert_eq!(prefix(&ONE.0, ONE.1), "name");
        assert_eq!(prefix(&INDEX.0, INDEX.1), "gsi2pk");
        assert_eq!(prefix(&UNIT.0, UNIT.1), "areaM2");
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)] // read only by serde's introspection
    struct Sample {
        kept_name: String,
        #[serde(rename = "other")]
        renamed: u64,
    }

    #[test]
    fn the_check_refuses_a_name_serde_does_not_read() {
        assert_serde_fields::<Sample>("Sample", &["keptName", "other"]);
        let renamed =
            std::panic::catch_unwind(|| assert_serde_fields::<Sample>("Sample", &["renamed"]));
        assert!(
            renamed.is_err(),
            "a field serde renames is not found under its Rust name"
        );
    }
}
