#![allow(dead_code)]

pub mod app;
pub mod container;
pub mod ferry;
pub mod figures;
pub mod hosts;
pub mod http;
pub mod pipeline;
pub mod release;
pub mod text;
