#![allow(dead_code)]

pub mod app;
pub mod ferry;
pub mod hosts;
