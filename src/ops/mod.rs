//! One module per job a unit or a person runs, each composing the layers:
//! load the model, gather inputs (fetch, discovery), render, write.

pub mod check;
pub mod cluster;
pub mod fetch;
pub mod load;
pub mod node;
pub mod prepare;
pub mod setup;
pub mod status;
pub mod vm;
