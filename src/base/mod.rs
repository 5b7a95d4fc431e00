//! Fixed facts and pure helpers: paths, names, defaults, the text rule,
//! escaping. Nothing here imports the rest of the crate or touches the host.

pub mod defaults;
pub mod hex;
pub mod names;
pub mod paths;
pub mod text;
pub mod unit_syntax;
pub mod yaml_quote;
