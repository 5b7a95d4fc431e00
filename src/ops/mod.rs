//! One module per job a unit or a person runs, each composing the layers:
//! load the model, gather inputs (fetch, discovery), render, write.

pub mod cluster;
pub mod load;
pub mod prepare;
pub mod setup;
pub mod ssh;
pub mod status;
pub mod vm;
