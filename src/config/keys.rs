//! The list of every key a config file may set, read from the serde
//! definitions themselves (for the docs and their tests).

use serde::{Deserialize, Deserializer};

use crate::config::raw::*;

/// Keys of earlier versions and where they live now, as `section.key`.
pub const MOVED_KEYS: &[(&str, &str)] = &[(
    "cloud-config.ssh-authorized-keys",
    "guest.ssh-authorized-keys",
)];

/// Where a key of an earlier version lives now, if it moved.
pub fn moved_to(key: &str) -> Option<&'static str> {
    MOVED_KEYS
        .iter()
        .find_map(|&(old, new)| (old == key).then_some(new))
}

/// Every key a config file may set, as `section.key` (`node.N.key` for the
/// per-node settings), read from the serde definitions that parse the files.
pub fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for &section in field_names::<RawConfig>() {
        let (prefix, fields) = match section {
            "cluster" => (section, field_names::<RawCluster>()),
            "vm" => (section, field_names::<RawVm>()),
            "network" => (section, field_names::<RawNetwork>()),
            "discovery" => (section, field_names::<RawDiscovery>()),
            "boot" => (section, field_names::<RawBoot>()),
            "image" => (section, field_names::<RawImage>()),
            "etcd" => (section, field_names::<RawEtcd>()),
            "paths" => (section, field_names::<RawPaths>()),
            "http" => (section, field_names::<RawHttp>()),
            "tftp" => (section, field_names::<RawTftp>()),
            "guest" => (section, field_names::<RawGuest>()),
            "cloud-config" => (section, field_names::<RawCloudConfig>()),
            "ksm" => (section, field_names::<RawKsm>()),
            "node" => ("node.N", field_names::<RawNode>()),
            other => panic!("config::keys() does not know section [{other}]"),
        };
        keys.extend(fields.iter().map(|field| format!("{prefix}.{field}")));
    }
    keys
}

/// The (renamed) field names serde derives for a struct: a deserializer that
/// only records what `deserialize_struct` is asked for.
fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{value::Error, Error as _, Visitor};

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
