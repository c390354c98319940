//! Every key ferry.toml accepts, read from the raw types themselves: a
//! deserializer that answers each struct with all of its fields (serde's
//! derive tells it their names), each table with one `<name>` entry, each
//! array with one element. docs/config.md must name every key it finds, so
//! a field added to a raw struct cannot ship undocumented.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::value::{BorrowedStrDeserializer, Error, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// The dotted paths of every key, tables' own keys as `<name>`:
/// `deploy_to`, `services.<name>.command`, `deploy.health.url`, …
pub(super) fn all() -> BTreeSet<String> {
    let found = RefCell::new(BTreeSet::new());
    let walk = Walk {
        path: String::new(),
        found: &found,
    };
    <super::raw::RawConfig as de::Deserialize>::deserialize(walk)
        .expect("the walk fits every type");
    found.into_inner()
}

#[derive(Clone)]
struct Walk<'a> {
    path: String,
    found: &'a RefCell<BTreeSet<String>>,
}

impl Walk<'_> {
    fn child(&self, name: &str) -> Self {
        let path = match self.path.is_empty() {
            true => name.to_string(),
            false => format!("{}.{name}", self.path),
        };
        Walk {
            path,
            found: self.found,
        }
    }
}

/// The fields of one struct, each answered by a walk one level down.
struct Fields<'a> {
    walk: Walk<'a>,
    fields: std::slice::Iter<'static, &'static str>,
    next: Option<Walk<'a>>,
}

impl<'de, 'a> de::MapAccess<'de> for Fields<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        // toml's Spanned wraps a value in private fields: the value keeps
        // its path and is not a key of its own.
        let next = if field.starts_with("$__") {
            Walk {
                path: self.walk.path.clone(),
                found: self.walk.found,
            }
        } else {
            let child = self.walk.child(field);
            self.walk.found.borrow_mut().insert(child.path.clone());
            child
        };
        self.next = Some(next);
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(self.next.take().expect("a key came first"))
    }
}

/// A table with one entry, `<name>`.
struct OneEntry<'a> {
    walk: Option<Walk<'a>>,
}

impl<'de> de::MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.walk.is_none() {
            return Ok(None);
        }
        // The key itself may be a Spanned<String>: walk it where nothing counts.
        let found = RefCell::new(BTreeSet::new());
        seed.deserialize(Walk {
            path: String::new(),
            found: &found,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(self.walk.take().expect("one entry").child("<name>"))
    }
}

/// An array with one element, at the array's own path.
struct OneElement<'a> {
    walk: Option<Walk<'a>>,
}

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.walk
            .take()
            .map(|walk| seed.deserialize(walk))
            .transpose()
    }
}

impl<'de> de::Deserializer<'de> for Walk<'_> {
    type Error = Error;

    /// Untyped values (`vars`, `serial`) and anything self-describing: a string.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str("x")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bool(false)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u32(0)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u16(0)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u8(0)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i64(0)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i32(0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(OneElement { walk: Some(self) })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(OneEntry { walk: Some(self) })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            walk: self,
            fields: fields.iter(),
            next: None,
        })
    }

    /// An enum of ferry.toml is a word: its first variant will do.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let word: StrDeserializer<'_, Error> = variants[0].into_deserializer();
        visitor.visit_enum(word)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u128 f32 char str string bytes byte_buf unit unit_struct
        tuple tuple_struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    /// docs/config.md names every key, as `` `path.of.key` ``.
    #[test]
    fn the_configuration_reference_names_every_key() {
        let reference =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md"))
                .unwrap();
        let keys = super::all();
        assert!(keys.contains("services.<name>.command"), "{keys:?}");
        assert!(keys.contains("environments.<name>.deploy_to"), "{keys:?}");
        // A table (`deploy.health`) is documented by its keys.
        let is_table = |key: &str| keys.iter().any(|k| k.starts_with(&format!("{key}.")));
        let missing: Vec<&String> = keys
            .iter()
            .filter(|key| !is_table(key) && !reference.contains(&format!("`{key}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/config.md does not describe: {missing:#?}"
        );
    }
}
